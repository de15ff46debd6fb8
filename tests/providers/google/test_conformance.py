"""The Google provider passes the provider conformance kit against its emulator."""

from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.models import VideoRequest
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_google.testing import TEST_KEY


class TestGoogleConformance(ProviderConformance):
    provider = "google"

    @pytest.fixture
    def conformance_settings(self, google_emulator: Any) -> dict[str, Any]:
        return {"api_key": TEST_KEY, "base_url": google_emulator.base_url}

    @pytest.fixture
    def conformance_clock(self, google_clock: VirtualClock) -> VirtualClock:
        return google_clock

    @pytest.fixture
    def conformance_invalid_request(self) -> tuple[VideoRequest, str]:
        return VideoRequest(prompt="a red ball", duration=7), "duration"

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "models/veo-3.1-generate-preview/operations/zzzzzzzzzzzz"
