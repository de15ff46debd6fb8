"""Opt-in smoke test against the real fal queue.

Runs only with VIDEOPROVIDER_LIVE=1 and FAL_KEY set, and never in CI. It makes one short
video with the default endpoint (billed to the key's account), waits for it, and checks the
endpoint's published schema refuses an unknown input before anything is sent:

    VIDEOPROVIDER_LIVE=1 FAL_KEY=... pytest tests/live/test_live_fal.py -s
"""

import os
from pathlib import Path

import pytest

from videoprovider.errors import RequestRejected
from videoprovider.models import TaskState, VideoRequest
from videoprovider.sync import VideoClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("VIDEOPROVIDER_LIVE") != "1"
        or not os.environ.get("FAL_KEY")
        or os.environ.get("CI") == "true",
        reason="live test: set VIDEOPROVIDER_LIVE=1 and FAL_KEY (never runs in CI)",
    ),
]


def test_one_short_video_end_to_end(tmp_path: Path) -> None:
    request = VideoRequest(
        prompt="A paper boat drifting on a calm pond, soft morning light",
        model=os.environ.get("VIDEOPROVIDER_LIVE_MODEL"),
        duration=5,
    )
    with VideoClient("fal", schema_cache_dir="") as client:
        with pytest.raises(RequestRejected, match="no_such_input"):
            client.submit(request.model_copy(update={"extra": {"no_such_input": 1}}))
        video = client.generate(
            request,
            tmp_path / "live.mp4",
            timeout=1800,
            on_progress=lambda s: print(s.state.value, s.queue_position, s.progress),
        )
    assert video.status.state is TaskState.COMPLETED
    data = Path(video.path).read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 10_000
