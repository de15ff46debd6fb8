"""pytest plugin (entry point `pytest11`): the Kling emulator for host applications.

Fixtures:

* `kling_clock`: a `VirtualClock` shared by the emulator and `kling_client`, so a client
  waiting on a 60-second task moves the emulator's time (and its tokens' ages) unslept.
* `kling_emulator`: a Kling-protocol server on 127.0.0.1 in this process (`.base_url`,
  `.service.requests`, `.service.inject(Fault(...))`). Configure it with
  `@pytest.mark.kling_emulator(seconds={...}, ...)` (`EmulatorConfig` fields).
* `kling_client`: a `VideoClient("kling")` pointed at it with the emulator's test key pair,
  isolated from your environment and config files.

Imports happen inside the fixtures, so loading this plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from videoprovider.clock import VirtualClock
    from videoprovider.sync import VideoClient

    from .emulator import RunningEmulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kling_emulator(**config): EmulatorConfig fields for the emulator fixture"
    )


@pytest.fixture
def kling_clock() -> VirtualClock:
    from videoprovider.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def kling_emulator(
    request: pytest.FixtureRequest, kling_clock: VirtualClock
) -> Iterator[RunningEmulator]:
    from videoprovider.testing import marker_kwargs

    from .emulator import EmulatorConfig, run_in_thread

    config = EmulatorConfig(**marker_kwargs(request, "kling_emulator"))
    with run_in_thread(config, clock=kling_clock) as emulator:
        yield emulator


@pytest.fixture
def kling_client(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    from .emulator import TEST_ACCESS_KEY, TEST_SECRET_KEY

    with VideoClient(
        "kling",
        config=False,
        environ={},
        clock=kling_clock,
        access_key=TEST_ACCESS_KEY,
        secret_key=TEST_SECRET_KEY,
        base_url=kling_emulator.base_url,
    ) as client:
        yield client
