"""The Replicate provider passes the provider conformance kit against its emulator."""

from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_replicate.testing import TEST_TOKEN


class TestReplicateConformance(ProviderConformance):
    provider = "replicate"

    @pytest.fixture
    def conformance_settings(self, replicate_emulator: Any, tmp_path: Any) -> dict[str, Any]:
        return {
            "api_token": TEST_TOKEN,
            "base_url": replicate_emulator.base_url,
            "schema_cache_dir": str(tmp_path / "schemas"),
        }

    @pytest.fixture
    def conformance_clock(self, replicate_clock: VirtualClock) -> VirtualClock:
        return replicate_clock

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "q0000000000000000000000000"
