"""The DashScope provider passes the provider conformance kit against its emulator."""

from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_dashscope.emulator import RunningEmulator
from videoprovider_dashscope.testing import TEST_KEY


class TestDashScopeConformance(ProviderConformance):
    provider = "dashscope"

    @pytest.fixture
    def conformance_settings(self, dashscope_emulator: RunningEmulator) -> dict[str, Any]:
        return {"api_key": TEST_KEY, "base_url": dashscope_emulator.base_url}

    @pytest.fixture
    def conformance_clock(self, dashscope_clock: VirtualClock) -> VirtualClock:
        return dashscope_clock
