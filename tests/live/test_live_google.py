"""Opt-in smoke test against the real Gemini API (Veo).

Runs only with VIDEOPROVIDER_LIVE=1 and GEMINI_API_KEY set, and never in CI. It makes one
4-second 720p video with the cheapest listed model unless VIDEOPROVIDER_LIVE_MODEL names
another (billed to the key's project; Veo needs a paid tier) and downloads it, which proves
the key reaches the file URI:

    VIDEOPROVIDER_LIVE=1 GEMINI_API_KEY=... pytest tests/live -s
"""

import os
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient, VideoRequest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("VIDEOPROVIDER_LIVE") != "1"
        or not os.environ.get("GEMINI_API_KEY")
        or os.environ.get("CI") == "true",
        reason="live test: set VIDEOPROVIDER_LIVE=1 and GEMINI_API_KEY (never runs in CI)",
    ),
]


def test_one_short_video_end_to_end(tmp_path: Path) -> None:
    request = VideoRequest(
        prompt="A paper boat drifting on a calm pond, soft morning light",
        model=os.environ.get("VIDEOPROVIDER_LIVE_MODEL", "veo-3.1-lite-generate-preview"),
        duration=4,
        resolution="720P",
    )
    with VideoClient("google") as client:
        video = client.generate(
            request,
            tmp_path / "live.mp4",
            timeout=900,
            on_progress=lambda s: print(s.state.value, s.progress),
        )
    assert video.status.state is TaskState.COMPLETED
    data = Path(video.path).read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 10_000
