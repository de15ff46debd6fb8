"""The Google provider passes the provider conformance kit against its emulator."""

from pathlib import Path
from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import UnsupportedOperation
from videoprovider.models import VideoRequest
from videoprovider.sync import VideoClient
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

    def test_cancel_ends_in_canceled_or_is_refused_unsent(
        self,
        conformance_settings: dict[str, Any],
        conformance_clock: VirtualClock,
        kit_transport: Any,
        conformance_request: VideoRequest,
        tmp_path: Path,
    ) -> None:
        # `google` declares cancel for its Gemini Omni models; a Veo task (this class's
        # request) is refused per task by the cancel hook, before any request.
        with VideoClient(
            self.provider,
            config=False,
            environ={},
            clock=conformance_clock,
            transport=kit_transport,
            journal=tmp_path / "journal.sqlite3",
            **conformance_settings,
        ) as client:
            task = client.submit(conformance_request)
            before = len(kit_transport.seen)
            with pytest.raises(UnsupportedOperation, match="no cancel"):
                client.cancel(task)
            assert len(kit_transport.seen) == before


class TestGoogleOmniConformance(ProviderConformance):
    """The same kit on the Interactions API path, whose cancel is real."""

    provider = "google"

    @pytest.fixture
    def conformance_settings(self, google_emulator: Any) -> dict[str, Any]:
        return {"api_key": TEST_KEY, "base_url": google_emulator.base_url}

    @pytest.fixture
    def conformance_clock(self, google_clock: VirtualClock) -> VirtualClock:
        return google_clock

    @pytest.fixture
    def conformance_request(self) -> VideoRequest:
        return VideoRequest(prompt="A cat running on the grass", model="gemini-omni-1.1-flash")

    @pytest.fixture
    def conformance_invalid_request(self) -> tuple[VideoRequest, str]:
        return VideoRequest(prompt="a red ball", model="gemini-omni-1.1-flash", duration=8), (
            "duration"
        )

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "interactions/v1_zzzzzzzzzzzz"
