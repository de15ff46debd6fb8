"""pytest plugin (entry point `pytest11`): the Replicate emulator for host applications.

Fixtures:

* `replicate_clock`: a `VirtualClock` shared by the emulator and `replicate_client`, so a
  client waiting on a 60-second prediction moves the emulator's time and no test sleeps.
* `replicate_emulator`: a Replicate-protocol server on 127.0.0.1 in this process
  (`.base_url`, `.service.requests`, `.service.inject(Fault(...))`). Configure it with
  `@pytest.mark.replicate_emulator(prediction_seconds=30, ...)` (`EmulatorConfig` fields).
* `replicate_client`: a `VideoClient("replicate")` pointed at it, token `sk-test-emulator`,
  isolated from your environment, config files and schema cache.

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

TEST_TOKEN = "sk-test-emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "replicate_emulator(**config): EmulatorConfig fields for the emulator fixture"
    )


@pytest.fixture
def replicate_clock() -> VirtualClock:
    from videoprovider.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def replicate_emulator(
    request: pytest.FixtureRequest, replicate_clock: VirtualClock
) -> Iterator[RunningEmulator]:
    from videoprovider.testing import marker_kwargs

    from .emulator import EmulatorConfig, run_in_thread

    settings: dict[str, Any] = {
        "api_tokens": (TEST_TOKEN,),
        **marker_kwargs(request, "replicate_emulator"),
    }
    with run_in_thread(EmulatorConfig(**settings), clock=replicate_clock) as emulator:
        yield emulator


@pytest.fixture
def replicate_client(
    replicate_emulator: RunningEmulator, replicate_clock: VirtualClock
) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    with VideoClient(
        "replicate",
        config=False,
        environ={},
        clock=replicate_clock,
        api_token=TEST_TOKEN,
        base_url=replicate_emulator.base_url,
        schema_cache_dir="",
    ) as client:
        yield client
