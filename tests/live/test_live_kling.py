"""Opt-in smoke test against the real Kling API.

Runs only with VIDEOPROVIDER_LIVE=1, KLING_ACCESS_KEY and KLING_SECRET_KEY set, and never in
CI. It makes one 5-second std video with the default model (billed to the account):

    VIDEOPROVIDER_LIVE=1 KLING_ACCESS_KEY=... KLING_SECRET_KEY=... pytest tests/live -s
"""

import os
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient, VideoRequest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("VIDEOPROVIDER_LIVE") != "1"
        or not os.environ.get("KLING_ACCESS_KEY")
        or not os.environ.get("KLING_SECRET_KEY")
        or os.environ.get("CI") == "true",
        reason="live test: set VIDEOPROVIDER_LIVE=1, KLING_ACCESS_KEY and KLING_SECRET_KEY "
        "(never runs in CI)",
    ),
]


def test_one_short_video_end_to_end(tmp_path: Path) -> None:
    request = VideoRequest(
        prompt="A paper boat drifting on a calm pond, soft morning light",
        model=os.environ.get("VIDEOPROVIDER_LIVE_MODEL"),
        duration=5,
        resolution="720P",
    )
    with VideoClient("kling") as client:
        video = client.generate(
            request,
            tmp_path / "live.mp4",
            timeout=1800,
            on_progress=lambda s: print(s.state.value, s.progress),
        )
    assert video.status.state is TaskState.COMPLETED
    assert video.task.task_id.startswith("t2v-")
    assert Path(video.path).stat().st_size > 0
