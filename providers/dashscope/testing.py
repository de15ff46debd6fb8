"""pytest plugin (entry point `pytest11`): the DashScope emulator for host applications.

Fixtures:

* `dashscope_clock`: a `VirtualClock` shared by the emulator and `dashscope_client`, so a
  client waiting on a 90-second task moves the emulator's time and no test sleeps.
* `dashscope_emulator`: a DashScope-protocol server on 127.0.0.1 in this process
  (`.base_url`, `.service.requests`, `.service.inject(Fault(...))`). Configure it with
  `@pytest.mark.dashscope_emulator(task_seconds=30, qps_limit=None, ...)`
  (the fields of `EmulatorConfig`).
* `dashscope_client`: a `VideoClient("dashscope")` pointed at it, key `sk-test-emulator`,
  isolated from your environment and config files.

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

TEST_KEY = "sk-test-emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dashscope_emulator(**config): EmulatorConfig fields for the emulator fixture"
    )


@pytest.fixture
def dashscope_clock() -> VirtualClock:
    from videoprovider.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def dashscope_emulator(
    request: pytest.FixtureRequest, dashscope_clock: VirtualClock
) -> Iterator[RunningEmulator]:
    from videoprovider.testing import marker_kwargs

    from .emulator import EmulatorConfig, run_in_thread

    settings: dict[str, Any] = {
        "api_keys": (TEST_KEY,),
        "task_seconds": 30.0,
        **marker_kwargs(request, "dashscope_emulator"),
    }
    with run_in_thread(EmulatorConfig(**settings), clock=dashscope_clock) as emulator:
        yield emulator


@pytest.fixture
def dashscope_client(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    with VideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=dashscope_clock,
        api_key=TEST_KEY,
        base_url=dashscope_emulator.base_url,
    ) as client:
        yield client
