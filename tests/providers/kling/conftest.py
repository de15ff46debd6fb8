from collections.abc import Callable
from typing import Any

import pytest

from videoprovider import VideoClient
from videoprovider.clock import VirtualClock
from videoprovider_kling.emulator import TEST_ACCESS_KEY, TEST_SECRET_KEY, RunningEmulator

MakeClient = Callable[..., VideoClient]


@pytest.fixture
def make_client(kling_emulator: RunningEmulator, kling_clock: VirtualClock) -> MakeClient:
    """A `VideoClient("kling")` on the emulator: its test key pair and clock, unless given."""

    def make(**settings: Any) -> VideoClient:
        settings.setdefault("clock", kling_clock)
        settings.setdefault("access_key", TEST_ACCESS_KEY)
        settings.setdefault("secret_key", TEST_SECRET_KEY)
        return VideoClient(
            "kling", config=False, environ={}, base_url=kling_emulator.base_url, **settings
        )

    return make
