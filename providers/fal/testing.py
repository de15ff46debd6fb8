"""pytest plugin (entry point `pytest11`): the fal emulator for host applications.

Fixtures:

* `fal_clock`: a `VirtualClock` shared by the emulator and `fal_client`, so no test sleeps.
* `fal_emulator`: a fal-queue server on 127.0.0.1 in this process (`.base_url`,
  `.schema_url`, `.jwks_url`, `.service.inject(Fault(...))`); configure it with
  `@pytest.mark.fal_emulator(queue_seconds=5, ...)` (`EmulatorConfig` fields).
* `fal_client`: a `VideoClient("fal")` pointed at it, key `sk-test-fal-emulator`, isolated
  from your environment, config files and schema cache; it polls (`watch_streams=0`): to
  test the status stream, use a `HeldClock` (tests/providers/fal/test_stream.py).

Imports happen inside the fixtures, so loading this plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from videoprovider.clock import VirtualClock
    from videoprovider.sync import VideoClient

    from .emulator import RunningEmulator

TEST_KEY = "sk-test-fal-emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fal_emulator(**config): EmulatorConfig fields for the fal emulator fixture"
    )


@pytest.fixture
def fal_clock() -> VirtualClock:
    from videoprovider.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def fal_emulator(
    request: pytest.FixtureRequest, fal_clock: VirtualClock
) -> Iterator[RunningEmulator]:
    from videoprovider.testing import marker_kwargs

    from .emulator import EmulatorConfig, run_in_thread

    settings: dict[str, Any] = {"api_keys": (TEST_KEY,), **marker_kwargs(request, "fal_emulator")}
    with run_in_thread(EmulatorConfig(**settings), clock=fal_clock) as emulator:
        yield emulator


def emulator_settings(emulator: RunningEmulator) -> dict[str, Any]:
    """Settings that point the fal provider at `emulator`."""
    return {
        "api_key": TEST_KEY,
        "base_url": emulator.base_url,
        "schema_url": emulator.schema_url,
        "jwks_url": emulator.jwks_url,
        "schema_cache_dir": "",
    }


@pytest.fixture
def fal_client(fal_emulator: RunningEmulator, fal_clock: VirtualClock) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    # No status stream: it runs in real time and would race the virtual clock, so which of
    # stream and polls ended a wait would be up to the machine's load.
    with VideoClient(
        "fal",
        config=False,
        environ={},
        clock=fal_clock,
        watch_streams=0,
        **emulator_settings(fal_emulator),
    ) as client:
        yield client
