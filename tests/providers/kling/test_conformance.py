"""The Kling provider passes the provider conformance kit against its emulator."""

from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_kling.emulator import TEST_ACCESS_KEY, TEST_SECRET_KEY


class TestKlingConformance(ProviderConformance):
    provider = "kling"

    @pytest.fixture
    def conformance_settings(self, kling_emulator: Any) -> dict[str, Any]:
        return {
            "access_key": TEST_ACCESS_KEY,
            "secret_key": TEST_SECRET_KEY,
            "base_url": kling_emulator.base_url,
        }

    @pytest.fixture
    def conformance_clock(self, kling_clock: VirtualClock) -> VirtualClock:
        return kling_clock

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "t2v-100000000000000000"
