"""Opt-in smoke test against the real Replicate API.

Runs only with VIDEOPROVIDER_LIVE=1 and REPLICATE_API_TOKEN set, and never in CI. It makes
one short video with the default model (billed to the token's account) and waits for it:

    VIDEOPROVIDER_LIVE=1 REPLICATE_API_TOKEN=r8_... pytest tests/live -s
"""

import os
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient, VideoRequest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("VIDEOPROVIDER_LIVE") != "1"
        or not os.environ.get("REPLICATE_API_TOKEN")
        or os.environ.get("CI") == "true",
        reason="live test: set VIDEOPROVIDER_LIVE=1 and REPLICATE_API_TOKEN (never runs in CI)",
    ),
]


def test_one_short_video_end_to_end(tmp_path: Path) -> None:
    request = VideoRequest(
        prompt="A paper boat drifting on a calm pond, soft morning light",
        model=os.environ.get("VIDEOPROVIDER_LIVE_MODEL"),
        duration=5,
    )
    with VideoClient("replicate", schema_cache_dir="") as client:
        video = client.generate(
            request,
            tmp_path / "live.mp4",
            timeout=900,
            on_progress=lambda s: print(s.state.value, s.progress),
        )
    assert video.status.state is TaskState.COMPLETED
    assert video.status.video_url_expires_at is not None
    data = Path(video.path).read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 10_000
