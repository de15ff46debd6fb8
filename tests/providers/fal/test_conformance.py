"""The fal provider passes the provider conformance kit against its emulator."""

from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_fal.testing import emulator_settings


class TestFalConformance(ProviderConformance):
    provider = "fal"

    @pytest.fixture
    def conformance_settings(self, fal_emulator: Any, tmp_path: Any) -> dict[str, Any]:
        return {**emulator_settings(fal_emulator), "schema_cache_dir": str(tmp_path / "s")}

    @pytest.fixture
    def conformance_clock(self, fal_clock: VirtualClock) -> VirtualClock:
        return fal_clock

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "fal-ai/wan-25-preview:00000000-0000-4000-8000-000000000000"
