"""The whole path over real loopback HTTP: client → Kling provider → emulator, and the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient, VideoRequest
from videoprovider.clock import VirtualClock
from videoprovider.errors import (
    AccountError,
    ContentRejected,
    RateLimited,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskFailed,
    UnsupportedOperation,
)
from videoprovider.journal.entry import Phase
from videoprovider_kling.emulator import TEST_ACCESS_KEY, TEST_SECRET_KEY, Fault, RunningEmulator

from .conftest import MakeClient


def test_generate_text_to_video_saves_the_video(kling_client: VideoClient, tmp_path: Path) -> None:
    video = kling_client.generate("A red fox in the snow", tmp_path / "fox.mp4", duration=5)
    assert video.status.state is TaskState.COMPLETED
    assert video.task.task_id.startswith("t2v-")
    assert (tmp_path / "fox.mp4").read_bytes()[4:8] == b"ftyp"


def test_each_kind_routes_to_its_own_query_path(
    kling_client: VideoClient, kling_emulator: RunningEmulator
) -> None:
    task = kling_client.submit(VideoRequest(prompt="a cat", image_url="https://x.test/cat.png"))
    assert task.task_id.startswith("i2v-")
    # A bare reference, as another process would hold it, finds the image2video path.
    status = kling_client.status(f"kling:{task.task_id}")
    assert status.state is TaskState.PENDING
    assert kling_emulator.service.requests[-1].path.startswith("/v1/videos/image2video/")
    created = kling_emulator.service.requests_of("create")[0]
    assert created.body["image"] == "https://x.test/cat.png"
    assert created.body["external_task_id"].startswith("i2v-vp-")


def test_a_submit_whose_reply_was_dropped_creates_one_task_and_saves_it(
    kling_emulator: RunningEmulator, make_client: MakeClient, tmp_path: Path
) -> None:
    kling_emulator.service.inject(Fault("drop_after", match="create"))
    with make_client(journal=str(tmp_path / "j.db")) as client:
        video = client.generate("a lighthouse at dusk", tmp_path / "out.mp4")
        entry = client.journal.get(video.task.task_id) if client.journal else None
    assert len(kling_emulator.service.requests_of("create")) == 1
    assert len(kling_emulator.service.tasks) == 1
    assert video.path and Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert entry is not None and entry.phase is Phase.COLLECTED


def test_a_lost_create_that_never_landed_is_resent_with_the_same_id(
    kling_emulator: RunningEmulator, make_client: MakeClient
) -> None:
    kling_emulator.service.inject(Fault("drop", match="create"))
    with make_client() as client:
        task = client.submit("a lighthouse at dusk")
    creates = kling_emulator.service.requests_of("create")
    assert len(creates) == 2 and len(kling_emulator.service.tasks) == 1
    assert creates[0].body["external_task_id"] == creates[1].body["external_task_id"]
    assert task.task_id.startswith("t2v-")


def test_an_unknown_outcome_is_recovered_by_resume(
    kling_emulator: RunningEmulator, make_client: MakeClient, tmp_path: Path
) -> None:
    # The create lands but its reply is lost, and the query by external id fails too.
    kling_emulator.service.inject(Fault("drop_after", match="create"), Fault(5000, match="query"))
    journal = str(tmp_path / "j.db")
    with make_client(journal=journal, max_retries=0) as client:
        with pytest.raises(SubmitOutcomeUnknown):
            client.submit("a lighthouse at dusk", target=str(tmp_path / "later.mp4"))
        assert client.journal is not None
        [entry] = client.journal.entries(phase=Phase.OUTCOME_UNKNOWN)
        assert entry.request.extra["external_task_id"].startswith("vp-")
    with make_client(journal=journal) as client:
        [resumed] = client.resume()
    assert resumed.status is not None and resumed.status.state is TaskState.COMPLETED
    assert resumed.path and Path(resumed.path).read_bytes()[4:8] == b"ftyp"
    assert len(kling_emulator.service.requests_of("create")) == 1


def test_reconcile_resends_only_when_kling_provably_has_no_task(
    kling_emulator: RunningEmulator, make_client: MakeClient, tmp_path: Path
) -> None:
    # The create never reached the service, and neither did the query after it.
    kling_emulator.service.inject(Fault("drop", match="create"), Fault("drop", match="query"))
    journal = str(tmp_path / "j.db")
    with make_client(journal=journal, max_retries=0) as client:
        with pytest.raises(SubmitOutcomeUnknown):
            client.submit("a lighthouse at dusk")
        [orphan] = client.orphans()
    assert orphan.recovered is not None and orphan.recovered.task_id.startswith("t2v-")
    creates = kling_emulator.service.requests_of("create")
    assert len(creates) == 2 and len(kling_emulator.service.tasks) == 1
    assert creates[0].body == creates[1].body


def test_a_lost_reply_whose_query_is_refused_stays_an_unknown_outcome(
    kling_client: VideoClient, kling_emulator: RunningEmulator
) -> None:
    kling_emulator.service.inject(Fault("drop_after", match="create"), Fault(1002, match="query"))
    with pytest.raises(SubmitOutcomeUnknown):
        kling_client.submit("a cat")
    assert len(kling_emulator.service.tasks) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [(1102, AccountError), (1201, RequestRejected), (1301, ContentRejected)],
)
def test_refusals_map_onto_the_error_hierarchy(
    kling_client: VideoClient, kling_emulator: RunningEmulator, code: int, error: type
) -> None:
    kling_emulator.service.inject(Fault(code, match="create"))
    with pytest.raises(error) as caught:
        kling_client.submit("a cat")
    assert caught.value.code == str(code)
    assert len(kling_emulator.service.requests_of("create")) == 1


def test_a_concurrency_refusal_is_retried_then_throttled(
    kling_client: VideoClient, kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    kling_emulator.service.inject(Fault(1303, match="create", count=3))
    start = kling_clock.monotonic()
    with pytest.raises(RateLimited) as caught:
        kling_client.submit("a cat")
    assert caught.value.retry_after == 30.0
    assert kling_clock.monotonic() - start >= 30.0  # waited the 30 s a slot takes to free
    assert len(kling_emulator.service.requests_of("create")) == 3
    assert not kling_emulator.service.tasks


def test_a_failed_task_carries_kling_s_message(kling_client: VideoClient) -> None:
    task = kling_client.submit("a cat [[fail]]")
    with pytest.raises(TaskFailed) as caught:
        kling_client.wait(task, timeout=3600)
    assert "risk control" in str(caught.value)


def test_invalid_requests_are_refused_before_the_network(
    kling_client: VideoClient, kling_emulator: RunningEmulator
) -> None:
    cases = [
        (VideoRequest(prompt="a", duration=7), "duration"),
        (VideoRequest(prompt="a", extra={"mode": "turbo"}), "mode"),
        (VideoRequest(prompt="a", audio=True), "audio"),
        (VideoRequest(prompt="a", model="kling-v1", audio=False), "audio"),
        (VideoRequest(prompt="a", extra={"cfg_scale": 0.5}), "cfg_scale"),
        (VideoRequest(prompt="a", model="kling-v1-5"), "model"),
        (VideoRequest(prompt="a", aspect_ratio="4:3"), "aspect_ratio"),
        (VideoRequest(prompt="a", seed=1), "seed"),
        (VideoRequest(prompt="a", extra={"external_task_id": "order 42"}), "external_task_id"),
        (VideoRequest(prompt="a", extra={"motion_brush": 1}), "motion_brush"),
        (VideoRequest(prompt="a", model="kling-v9"), "model"),
        (VideoRequest(prompt="a", image_url="https://x.test/a.png", aspect_ratio="1:1"),
         "aspect_ratio"),
    ]  # fmt: skip
    for request, field in cases:
        with pytest.raises(RequestRejected) as caught:
            kling_client.submit(request)
        assert caught.value.field == field, (request, caught.value)
    assert kling_emulator.service.requests == []


def test_cancel_is_refused_unsent(
    kling_client: VideoClient, kling_emulator: RunningEmulator
) -> None:
    with pytest.raises(UnsupportedOperation):
        kling_client.cancel("t2v-867283741759111202")
    assert kling_emulator.service.requests == []


def test_cli_generate_against_an_emulator_process(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "videoprovider_kling.emulator", "--port", "0", "--seconds", "0.3"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VIDEOPROVIDER_", "KLING_"))
        }
        env.update(
            {
                "VIDEOPROVIDER_PROVIDER": "kling",
                "KLING_BASE_URL": base_url,
                "KLING_ACCESS_KEY": TEST_ACCESS_KEY,
                "KLING_SECRET_KEY": TEST_SECRET_KEY,
                "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
                "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_DATA_HOME": str(tmp_path / "xdg"),
                "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            }
        )
        result = subprocess.run(
            [sys.executable, "-m", "videoprovider.cli", "generate", "a cat", "--out", "x.mp4"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "x.mp4").read_bytes()[4:8] == b"ftyp"
        assert TEST_SECRET_KEY not in result.stdout + result.stderr
    finally:
        emulator.terminate()
        emulator.wait(10)
