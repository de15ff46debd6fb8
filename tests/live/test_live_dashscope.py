"""Opt-in smoke test against the real DashScope service.

Runs only with VIDEOPROVIDER_LIVE=1 and DASHSCOPE_API_KEY set, and never in CI. It submits
one 5-second 480P video (billed to the key's account) and waits for it:

    VIDEOPROVIDER_LIVE=1 DASHSCOPE_API_KEY=sk-... pytest tests/live -s
"""

import os
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient, VideoRequest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("VIDEOPROVIDER_LIVE") != "1"
        or not os.environ.get("DASHSCOPE_API_KEY")
        or os.environ.get("CI") == "true",
        reason="live test: set VIDEOPROVIDER_LIVE=1 and DASHSCOPE_API_KEY (never runs in CI)",
    ),
]


def test_one_short_video_end_to_end(tmp_path: Path) -> None:
    model = os.environ.get("VIDEOPROVIDER_LIVE_MODEL", "wan2.2-t2v-plus")
    request = VideoRequest(
        prompt="A paper boat drifting on a calm pond, soft morning light",
        model=model,
        duration=5,
        size="832*480",
        prompt_extend=False,
    )
    with VideoClient("dashscope") as client:
        video = client.generate(
            request,
            tmp_path / "live.mp4",
            timeout=900,
            on_progress=lambda s: print(s.state.value, s.progress),
        )
    assert video.status.state is TaskState.COMPLETED
    data = Path(video.path).read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 10_000
