import shutil
import struct
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import (
    ConfigurationError,
    ContentRejected,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    TaskCanceled,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
)
from videoprovider.models import TaskState, VideoRequest
from videoprovider.provider import Operation, ProviderContext
from videoprovider_fake.provider import FakeProvider, FakeSettings
from videoprovider_fake.video import sample_video

pytestmark = pytest.mark.anyio


def make(clock: VirtualClock | None = None, **settings: object) -> FakeProvider:
    return FakeProvider(
        FakeSettings(**settings),  # type: ignore[arg-type]
        ProviderContext(name="fake", clock=clock or VirtualClock()),
    )


def req(**fake: object) -> VideoRequest:
    return VideoRequest(prompt="a cat", extra={"fake": fake} if fake else {})


async def states(p: FakeProvider, task_id: str, n: int) -> list[tuple[TaskState, int]]:
    out = []
    for _ in range(n):
        s = await p.videoprovider_status(task_id=task_id)
        out.append((s.state, s.progress))
    return out


def test_offers_all_four_operations() -> None:
    assert FakeProvider.capabilities == frozenset(Operation)


async def test_succeed_progresses_through_pending_processing_completed() -> None:
    p = make(polls=4)
    task = await p.videoprovider_submit(request=req())
    assert await states(p, task.task_id, 5) == [
        (TaskState.PENDING, 10),
        (TaskState.PROCESSING, 33),
        (TaskState.PROCESSING, 66),
        (TaskState.COMPLETED, 100),
        (TaskState.COMPLETED, 100),
    ]
    final = await p.videoprovider_status(task_id=task.task_id)
    assert final.video_url and final.video_url.startswith("https://fake.videoprovider.invalid/")
    assert final.video_url_expires_at is not None and final.finished_at is not None
    assert final.video_url_expires_at - final.finished_at == timedelta(hours=24)


async def test_time_based_scenario_follows_the_injected_clock() -> None:
    clock = VirtualClock()
    p = make(clock, seconds=100)
    task = await p.videoprovider_submit(request=req())
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.PENDING
    clock.advance(40)
    s = await p.videoprovider_status(task_id=task.task_id)
    assert (s.state, s.progress) == (TaskState.PROCESSING, 40)
    clock.advance(60)
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.COMPLETED


async def test_fail_scenario_reports_code_and_message() -> None:
    p = make(scenario="fail", polls=2, fail_code="Boom", fail_message="went wrong")
    task = await p.videoprovider_submit(request=req())
    final = (await states(p, task.task_id, 2))[-1]
    s = await p.videoprovider_status(task_id=task.task_id)
    assert final[0] is TaskState.FAILED and (s.error_code, s.error_message) == (
        "Boom",
        "went wrong",
    )
    with pytest.raises(TaskFailed, match="Boom"):
        await p.videoprovider_url(task_id=task.task_id)


async def test_stuck_never_finishes() -> None:
    clock = VirtualClock()
    p = make(clock, scenario="stuck")
    task = await p.videoprovider_submit(request=req())
    clock.advance(10**6)
    seen = await states(p, task.task_id, 50)
    assert seen[0] == (TaskState.PENDING, 10)
    assert set(seen[1:]) == {(TaskState.PROCESSING, 50)}


async def test_throttle_first_calls_then_succeed() -> None:
    p = make(scenario="throttle", throttle_first=2, retry_after=7, polls=1)
    task = await p.videoprovider_submit(request=req())
    for _ in range(2):
        with pytest.raises(RateLimited) as info:
            await p.videoprovider_status(task_id=task.task_id)
        assert info.value.retry_after == 7 and info.value.task_id == task.task_id
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.COMPLETED


async def test_unavailable_first_calls() -> None:
    p = make(scenario="unavailable", unavailable_first=1, polls=1)
    task = await p.videoprovider_submit(request=req())
    with pytest.raises(ProviderUnavailable):
        await p.videoprovider_status(task_id=task.task_id)
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.COMPLETED


async def test_reject_content_refuses_at_submit() -> None:
    p = make(scenario="reject_content")
    with pytest.raises(ContentRejected) as info:
        await p.videoprovider_submit(request=req())
    assert info.value.code == "DataInspectionFailed" and info.value.field == "prompt"


async def test_per_request_override_beats_settings() -> None:
    p = make(scenario="fail", polls=1)
    task = await p.videoprovider_submit(request=req(scenario="succeed"))
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.COMPLETED


@pytest.mark.parametrize("bad", [{"scenario": "explode"}, {"polls": 0}, {"colour": "red"}])
async def test_invalid_override_names_extra_fake(bad: dict[str, object]) -> None:
    with pytest.raises(RequestRejected) as info:
        await make().videoprovider_submit(request=req(**bad))
    assert info.value.field == "extra.fake" and "extra.fake" in str(info.value)


async def test_override_must_be_a_table() -> None:
    with pytest.raises(RequestRejected, match="table"):
        await make().videoprovider_submit(request=VideoRequest(prompt="p", extra={"fake": 3}))


@pytest.mark.parametrize("resolution", ["480P", "720P", "1080P"])
async def test_offered_resolutions_are_accepted(resolution: str) -> None:
    task = await make().videoprovider_submit(
        request=req().model_copy(update={"resolution": resolution})
    )
    assert task.task_id.startswith("fake-")


async def test_unoffered_resolution_is_refused_before_anything_is_sent() -> None:
    p = make()
    with pytest.raises(RequestRejected) as info:
        await p.videoprovider_submit(request=VideoRequest(prompt="a cat", resolution="9000P"))
    assert info.value.field == "resolution"
    assert "9000P" in str(info.value) and "480P, 720P, 1080P" in str(info.value)
    # Nothing was "sent": no request id used, no task id drawn.
    assert p._requests == 0 and p._tasks == {}
    assert (await p.videoprovider_submit(request=req())).task_id == (
        await make().videoprovider_submit(request=req())
    ).task_id


async def test_same_seed_same_ids_different_seed_different_ids() -> None:
    async def ids(seed: int) -> list[str]:
        p = make(seed=seed)
        return [(await p.videoprovider_submit(request=req())).task_id for _ in range(3)]

    assert await ids(1) == await ids(1)
    assert await ids(1) != await ids(2)
    assert len(set(await ids(1))) == 3


async def test_another_instance_answers_for_a_time_based_task() -> None:
    clock = VirtualClock()
    task = await make(clock, seconds=30).videoprovider_submit(request=req())
    clock.advance(31)
    other = make(clock)
    status = await other.videoprovider_status(task_id=task.task_id)
    assert status.state is TaskState.COMPLETED


@pytest.mark.parametrize("task_id", ["nope", "fake-!!!", "fake-e30", ""])
async def test_unknown_ids_are_unknown_not_errors(task_id: str) -> None:
    p = make()
    assert (await p.videoprovider_status(task_id=task_id)).state is TaskState.UNKNOWN
    with pytest.raises(TaskNotFound):
        await p.videoprovider_url(task_id=task_id)
    with pytest.raises(TaskNotFound):
        await p.videoprovider_cancel(task_id=task_id)


async def test_an_id_outside_the_issued_alphabet_never_names_a_video() -> None:
    clock = VirtualClock()
    task = await make(clock, seconds=30).videoprovider_submit(request=req())
    clock.advance(31)
    # base64 decoding skips "#" and "\\", so this id used to decode to the real task and put
    # "#\\" into its video URL.
    forged = task.task_id[:12] + "#\\" + task.task_id[12:]
    status = await make(clock).videoprovider_status(task_id=forged)
    assert status.state is TaskState.UNKNOWN and status.video_url is None


async def test_url_before_completion_is_not_ready() -> None:
    p = make(polls=5)
    task = await p.videoprovider_submit(request=req())
    with pytest.raises(TaskNotReady):
        await p.videoprovider_url(task_id=task.task_id)


async def test_cancel_running_task_then_refuse_a_second_cancel() -> None:
    p = make(scenario="stuck")
    task = await p.videoprovider_submit(request=req())
    assert (await p.videoprovider_cancel(task_id=task.task_id)).state is TaskState.CANCELED
    assert (await p.videoprovider_status(task_id=task.task_id)).state is TaskState.CANCELED
    with pytest.raises(RequestRejected) as info:
        await p.videoprovider_cancel(task_id=task.task_id)
    assert info.value.code == "TaskAlreadyFinished"
    with pytest.raises(TaskCanceled, match="canceled; it has no video"):
        await p.videoprovider_url(task_id=task.task_id)


async def test_a_cancel_is_remembered_by_every_other_instance(tmp_path: Path) -> None:
    ledger = tmp_path / "cancels.sqlite3"
    clock = VirtualClock()
    first, watcher = make(clock, seconds=60, cancel_file=ledger), make(clock, cancel_file=ledger)
    task = await first.videoprovider_submit(request=req())
    clock.advance(30)
    assert (await watcher.videoprovider_status(task_id=task.task_id)).state is TaskState.PROCESSING
    assert not ledger.exists()  # reading never creates the file
    await first.videoprovider_cancel(task_id=task.task_id)
    clock.advance(60)  # long past the time the task would have completed
    assert (await watcher.videoprovider_status(task_id=task.task_id)).state is TaskState.CANCELED
    newcomer = make(clock, cancel_file=ledger)
    assert (await newcomer.videoprovider_status(task_id=task.task_id)).state is TaskState.CANCELED
    with pytest.raises(RequestRejected, match="already finished"):
        await newcomer.videoprovider_cancel(task_id=task.task_id)
    with pytest.raises(TaskCanceled):
        await newcomer.videoprovider_url(task_id=task.task_id)


async def test_a_reused_id_is_a_new_task_not_a_canceled_one(tmp_path: Path) -> None:
    # A fixed seed on a virtual clock hands out the same ids in every run.
    ledger = tmp_path / "cancels.sqlite3"
    run1 = make(VirtualClock(), seconds=60, cancel_file=ledger)
    task = await run1.videoprovider_submit(request=req())
    await run1.videoprovider_cancel(task_id=task.task_id)
    run2 = make(VirtualClock(), seconds=60, cancel_file=ledger)
    again = await run2.videoprovider_submit(request=req())
    assert again.task_id == task.task_id
    assert (await run2.videoprovider_status(task_id=again.task_id)).state is TaskState.PENDING


async def test_an_unusable_cancel_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    p = make(scenario="stuck", cancel_file=tmp_path / "notes.txt" / "cancels.sqlite3")
    task = await p.videoprovider_submit(request=req())
    with pytest.raises(ConfigurationError, match="cancel_file"):
        await p.videoprovider_cancel(task_id=task.task_id)
    assert (await p.videoprovider_status(task_id=task.task_id)).state is not TaskState.CANCELED


async def completed(p: FakeProvider, **fake: object) -> str:
    task = await p.videoprovider_submit(request=req(polls=1, **fake))
    await p.videoprovider_status(task_id=task.task_id)
    return await p.videoprovider_url(task_id=task.task_id)


async def test_video_is_served_through_the_mounted_transport() -> None:
    p = make()
    url = await completed(p)
    async with httpx.AsyncClient(mounts=p.videoprovider_http_mounts()) as http:
        resp = await http.get(url)
        assert resp.status_code == 200 and resp.content == sample_video()
        assert resp.headers["content-type"] == "video/mp4"
        assert int(resp.headers["content-length"]) == len(sample_video())
        assert (await http.get(url.replace("fake-", "fake-x"))).status_code == 404
        pending = await p.videoprovider_submit(request=req(polls=9))
        assert (
            await http.get(url.replace(url.split("/")[-1], pending.task_id + ".mp4"))
        ).status_code == 404


async def test_drop_fault_breaks_the_download() -> None:
    p = make()
    url = await completed(p, download_fault="drop")
    async with httpx.AsyncClient(mounts=p.videoprovider_http_mounts()) as http:
        with pytest.raises(httpx.ReadError):
            await http.get(url)


def boxes(data: bytes) -> dict[bytes, bytes]:
    found, pos = {}, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        found[kind] = data[pos + 8 : pos + size]
        pos += size
    return found


def test_sample_is_a_real_mp4_with_a_duration() -> None:
    top = boxes(sample_video())
    assert {b"ftyp", b"moov", b"mdat"} <= set(top)
    mvhd = boxes(top[b"moov"])[b"mvhd"]
    version = mvhd[0]
    timescale, duration = struct.unpack(
        ">II", mvhd[12:20] if version == 0 else mvhd[20:24] + mvhd[28:32]
    )
    assert duration / timescale == pytest.approx(3.0, abs=0.2)


def test_sample_decodes_with_ffprobe(tmp_path: Path, unavailable: Any) -> None:
    if shutil.which("ffprobe") is None:
        unavailable("ffprobe is not installed (Debian: apt-get install ffmpeg)")
    path = tmp_path / "v.mp4"
    path.write_bytes(sample_video())
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "h264,30"


def test_doc_lists_every_setting() -> None:
    from videoprovider.config import settings_table

    doc = Path(__file__).resolve().parents[3] / "docs" / "providers" / "fake.md"
    assert settings_table(FakeSettings, "VIDEOPROVIDER_FAKE_") in doc.read_text()
    undescribed = [name for name, f in FakeSettings.model_fields.items() if not f.description]
    assert undescribed == [], "the settings table's `meaning` column comes from descriptions"
