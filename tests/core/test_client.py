"""The client's behaviour, run through both the async client and its sync twin."""

import errno
import inspect
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from videoprovider import (
    AsyncVideoClient,
    ConfigurationError,
    DownloadError,
    Operation,
    RequestRejected,
    Task,
    TaskFailed,
    TaskNotReady,
    TaskState,
    TaskStatus,
    UnsupportedOperation,
    VideoClient,
    VideoProviderError,
    VideoRequest,
    VirtualClock,
    WaitTimeout,
    hookimpl,
)
from videoprovider.calls import TaskCalls
from videoprovider.download import video_name

InstallDist = Any  # the install_dist fixture from tests/conftest.py

pytestmark = pytest.mark.anyio
MP4_MAGIC = b"ftyp"


class Either:
    """Awaitable facade over either client, so one test body checks both."""

    def __init__(self, client: VideoClient | AsyncVideoClient, clock: VirtualClock) -> None:
        self.client = client
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return call


MakeClient = Callable[..., "Either"]


@pytest.fixture(params=["async", "sync"])
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[MakeClient]:
    made: list[Either] = []

    def make(**settings: Any) -> Either:
        clock = VirtualClock()
        cls = AsyncVideoClient if request.param == "async" else VideoClient
        settings.setdefault("provider", "fake")
        client = cls(config=False, environ={}, clock=clock, **settings)
        made.append(Either(client, clock))
        return made[-1]

    yield make
    for either in made:
        if isinstance(either.client, AsyncVideoClient):
            await either.client.aclose()
        else:
            either.client.close()


async def test_submit_accepts_a_prompt_a_request_or_fields(make_client: MakeClient) -> None:
    c = make_client()
    t1 = await c.submit("a cat")
    t2 = await c.submit(VideoRequest(prompt="a dog"), duration=5)
    assert t1.provider == "fake" and t1.request == VideoRequest(prompt="a cat")
    assert t2.request is not None and t2.request.duration == 5 and t1.task_id != t2.task_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"duration": -3}, "duration"),
        ({"duration": 0}, "duration"),
        ({"seed": "seven"}, "seed"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_fields_are_request_rejected_naming_the_field_before_submitting(
    make_client: MakeClient, fields: dict[str, Any], field: str, tmp_path: Path
) -> None:
    c = make_client(journal=tmp_path / "journal.sqlite3")
    events = Recorder()
    c.client.register(events)
    with pytest.raises(RequestRejected) as info:
        await c.submit("a cat", **fields)
    assert isinstance(info.value, VideoProviderError) and info.value.field == field
    assert field in str(info.value) and "nothing was sent" in str(info.value)
    with pytest.raises(RequestRejected):
        await c.submit(VideoRequest(prompt="a cat"), **fields)
    assert events.calls == [] and c.journal.entries() == []


async def test_wait_returns_completed_and_reports_changes(make_client: MakeClient) -> None:
    c = make_client(polls=3)
    task = await c.submit("a cat")
    seen: list[TaskStatus] = []
    final = await c.wait(task, on_progress=seen.append)
    assert final.state is TaskState.COMPLETED and final.video_url
    assert seen[-1] == final
    assert next(s.state for s in seen) in (TaskState.PENDING, TaskState.PROCESSING)
    assert len({(s.state, s.progress) for s in seen}) == len(seen)


async def test_async_progress_callbacks_are_awaited(make_client: MakeClient) -> None:
    c = make_client()
    seen: list[TaskState] = []

    async def on_progress(status: TaskStatus) -> None:
        seen.append(status.state)

    await c.wait(await c.submit("a cat"), on_progress=on_progress)
    assert seen[-1] is TaskState.COMPLETED


async def test_status_and_url_take_a_task_or_a_bare_id(make_client: MakeClient) -> None:
    c = make_client()
    task = await c.submit("a cat")
    await c.wait(task)
    assert (await c.status(task.task_id)).state is TaskState.COMPLETED
    assert await c.url(task) == await c.url(task.task_id)


async def test_url_before_completion_is_not_ready(make_client: MakeClient) -> None:
    c = make_client(scenario="stuck")
    task = await c.submit("a cat")
    with pytest.raises(TaskNotReady) as info:
        await c.url(task)
    assert info.value.task_id == task.task_id and info.value.provider == "fake"


async def test_failed_task_raises_with_code_and_message(make_client: MakeClient) -> None:
    c = make_client(scenario="fail", fail_code="Boom", fail_message="it broke")
    task = await c.submit("a cat")
    with pytest.raises(TaskFailed) as info:
        await c.wait(task)
    err = info.value
    assert err.code == "Boom" and "it broke" in str(err) and err.task == task
    assert err.status is not None and err.status.state is TaskState.FAILED


async def test_timeout_keeps_the_task(make_client: MakeClient) -> None:
    c = make_client(scenario="stuck")
    task = await c.submit("a cat")
    with pytest.raises(WaitTimeout) as info:
        await c.wait(task, timeout=120)
    assert info.value.task == task and c.clock.monotonic() == pytest.approx(120)
    assert task.task_id in str(info.value)


async def test_default_timeout_comes_from_settings(make_client: MakeClient) -> None:
    c = make_client(scenario="stuck", wait_timeout=42)
    with pytest.raises(WaitTimeout):
        await c.wait(await c.submit("a cat"))
    assert c.clock.monotonic() == pytest.approx(42)


async def test_retry_after_from_throttling_is_honoured(make_client: MakeClient) -> None:
    c = make_client(scenario="throttle", throttle_first=1, retry_after=37)
    task = await c.submit("a cat")
    await c.wait(task)
    # A 3 s task that would be collected within seconds; the 37 s the provider asked for
    # passed before the next poll.
    assert c.clock.monotonic() >= 37


async def test_cancel_is_offered_by_the_fake(make_client: MakeClient) -> None:
    c = make_client(scenario="stuck")
    assert Operation.CANCEL in c.capabilities
    status = await c.cancel(await c.submit("a cat"))
    assert status.state is TaskState.CANCELED


async def test_every_operation_takes_a_task_its_json_its_ref_or_a_bare_id(
    make_client: MakeClient, tmp_path: Path
) -> None:
    c = make_client()
    task = await c.submit("a cat")
    forms = [task, task.model_dump_json(), task.ref, task.task_id]
    for form in forms:
        assert (await c.wait(form)).state is TaskState.COMPLETED
        assert (await c.status(form)).task_id == task.task_id
        assert (await c.url(form)).endswith(".mp4")
    outcomes = await c.wait_many(forms)
    assert [o.task.task_id for o in outcomes] == [task.task_id] * 4 and all(o.ok for o in outcomes)
    for i, form in enumerate(forms):
        assert (await c.download(form, tmp_path / f"{i}.mp4")).stat().st_size > 0


async def test_a_ref_of_another_installed_provider_is_routed_to_it(
    make_client: MakeClient, nocancel_provider: ModuleType
) -> None:
    c = make_client()
    status = await c.status("nocancel:n1")
    assert status.provider == "nocancel" and status.task_id == "n1"
    assert nocancel_provider.CALLS == ["status"]
    # The routed provider's own capabilities apply, and nothing is sent for what it lacks.
    with pytest.raises(UnsupportedOperation, match="nocancel provider does not support cancel"):
        await c.cancel(Task(provider="nocancel", task_id="n1"))
    assert nocancel_provider.CALLS == ["status"]
    assert c.provider_name == "fake" and "nocancel" in await c.settings_report()


async def test_a_client_of_one_provider_waits_for_and_downloads_a_task_of_another(
    make_client: MakeClient, nocancel_provider: ModuleType, tmp_path: Path
) -> None:
    task = await make_client().submit("a cat")
    c = make_client(provider="nocancel")
    outcomes = await c.wait_many([task.ref, "nocancel:n1"], timeout=30)
    assert outcomes[0].status is not None and outcomes[0].status.state is TaskState.COMPLETED
    assert outcomes[1].task.provider == "nocancel" and isinstance(outcomes[1].error, WaitTimeout)
    assert (await c.download(task.ref, tmp_path)).name == video_name("fake", task.task_id)


async def test_a_ref_to_a_provider_not_installed_is_refused_unsent(
    make_client: MakeClient,
) -> None:
    c = make_client()
    with pytest.raises(ConfigurationError, match=r"'nosuch'.*not installed.*fake"):
        await c.status("nosuch:abc")
    with pytest.raises(ConfigurationError, match=r"'nosuch'.*Installed providers: .*fake"):
        await c.status(Task(provider="nosuch", task_id="abc"))


async def test_a_routed_provider_without_its_settings_names_the_missing_one(
    make_client: MakeClient,
) -> None:
    c = make_client()
    with pytest.raises(ConfigurationError, match=r"dashscope\.api_key is required"):
        await c.status("dashscope:0a1b-2c3d")


async def test_generate_saves_a_playable_file(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client()
    video = await c.generate("a cat", tmp_path / "cat.mp4")
    data = Path(video.path).read_bytes()
    assert data[4:8] == MP4_MAGIC and video.bytes == len(data)
    assert video.status.state is TaskState.COMPLETED and video.task.provider == "fake"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.mp4"]


async def test_generate_refuses_an_existing_file_before_submitting(
    make_client: MakeClient, tmp_path: Path
) -> None:
    target = tmp_path / "cat.mp4"
    target.write_bytes(b"mine")
    c = make_client()
    events = Recorder()
    c.client.register(events)
    with pytest.raises(DownloadError, match="Nothing was submitted"):
        await c.generate("a cat", target)
    assert events.calls == [] and target.read_bytes() == b"mine"
    video = await c.generate("a cat", target, overwrite=True)
    assert Path(video.path).read_bytes()[4:8] == MP4_MAGIC


async def test_generate_refuses_an_unwritable_target_before_submitting(
    make_client: MakeClient, tmp_path: Path
) -> None:
    # A path under a regular file cannot be written even by root, unlike a chmod'ed folder.
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" / "cat.mp4"
    c = make_client(journal=tmp_path / "journal.sqlite3")
    events = Recorder()
    c.client.register(events)
    with pytest.raises(DownloadError) as info:
        await c.generate("a cat", target)
    message = str(info.value)
    assert str(target) in message and str(tmp_path / "notes.txt") in message
    assert "Nothing was submitted" in message
    assert events.calls == [] and c.journal.entries() == []
    assert (tmp_path / "notes.txt").read_text() == "mine"


async def test_generate_refuses_a_read_only_folder_before_submitting(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        # Root writes to a 0555 folder anyway: refuse as the OS does for everyone else.
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr("videoprovider.download.os.open", read_only)
    c = make_client()
    events = Recorder()
    c.client.register(events)
    with pytest.raises(DownloadError, match="Permission denied"):
        await c.generate("a cat", folder / "cat.mp4")
    assert events.calls == [] and list(folder.iterdir()) == []


async def test_generate_creates_the_target_folder_and_leaves_no_probe(
    make_client: MakeClient, tmp_path: Path
) -> None:
    video = await make_client().generate("a cat", tmp_path / "new" / "deeper" / "cat.mp4")
    assert [p.name for p in (tmp_path / "new" / "deeper").iterdir()] == ["cat.mp4"]
    assert video.path == str(tmp_path / "new" / "deeper" / "cat.mp4")


async def test_a_save_that_fails_keeps_the_task_and_says_how_to_collect_it(
    make_client: MakeClient, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    target = folder / "cat.mp4"

    class FolderTurnsIntoAFile:
        @hookimpl
        def videoprovider_task_submitted(self, task: Task) -> None:
            if folder.is_dir():
                folder.rmdir()  # the write check made it, and left it empty
            folder.write_text("not a folder any more")

    c = make_client(journal=tmp_path / "journal.sqlite3", plugins=[FolderTurnsIntoAFile()])
    with pytest.raises(DownloadError) as info:
        await c.generate("a cat", target)
    err = info.value
    task_id = err.task_id
    assert task_id and str(target) in err.message and isinstance(err.__cause__, OSError)
    assert f"videoprovider download fake:{task_id} --out {target}" in err.hint
    assert "videoprovider tasks resume" in err.hint
    (entry,) = c.journal.unfinished()
    assert entry.task_id == task_id and entry.state is TaskState.COMPLETED
    # Resuming while the folder is still a file reports the error instead of crashing...
    (result,) = await c.resume()
    assert isinstance(result.error, DownloadError) and len(c.journal.unfinished()) == 1
    # ...and collects the video once it can be saved.
    folder.unlink()
    (result,) = await c.resume()
    assert result.path == str(target) and target.read_bytes()[4:8] == MP4_MAGIC
    assert c.journal.unfinished() == []


async def test_download_by_task_id_or_url(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client()
    task = await c.submit("a cat")
    await c.wait(task)
    by_id = await c.download(task.task_id, tmp_path / "a.mp4")
    by_url = await c.download_url(await c.url(task), tmp_path / "b.mp4")
    into_dir = await c.download(task, tmp_path)
    assert by_id.read_bytes() == by_url.read_bytes() == into_dir.read_bytes()


async def test_a_download_given_the_final_status_asks_the_provider_nothing(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client()
    task = await c.submit("a cat")
    final = await c.wait(task)
    other = await c.submit("a dog")

    async def asked(*args: object, **kwargs: object) -> None:
        raise AssertionError("asked the provider for the URL again")

    monkeypatch.setattr(TaskCalls, "url", asked)
    monkeypatch.setattr(TaskCalls, "status", asked)
    saved = await c.download(task, tmp_path / "a.mp4", status=final)
    assert saved.read_bytes()[4:8] == MP4_MAGIC
    with pytest.raises(RequestRejected) as info:
        await c.download(other, tmp_path / "b.mp4", status=final)
    assert info.value.field == "status" and not (tmp_path / "b.mp4").exists()


async def test_download_takes_no_url_for_a_task(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client()
    task = await c.submit("a cat")
    await c.wait(task)
    with pytest.raises(DownloadError, match="download_url") as info:
        await c.download(await c.url(task), tmp_path / "a.mp4")
    assert info.value.provider == "fake" and list(tmp_path.iterdir()) == []


async def test_interrupted_download_leaves_no_file(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client(download_fault="drop")
    with pytest.raises(DownloadError) as info:
        await c.generate("a cat", tmp_path / "cat.mp4")
    assert info.value.task_id and list(tmp_path.iterdir()) == []


async def test_download_cap(make_client: MakeClient, tmp_path: Path) -> None:
    c = make_client(download_max_bytes=100)
    with pytest.raises(DownloadError, match="cap"):
        await c.generate("a cat", tmp_path / "cat.mp4")
    assert list(tmp_path.iterdir()) == []


async def test_content_rejection_raises_before_a_task_exists(make_client: MakeClient) -> None:
    c = make_client(scenario="reject_content")
    with pytest.raises(RequestRejected):
        await c.submit("a cat")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def videoprovider_task_submitted(self, task: Task) -> None:
        self.calls.append(("submitted", task.task_id))

    @hookimpl
    def videoprovider_task_updated(
        self, task: Task, status: TaskStatus, previous: TaskStatus | None
    ) -> None:
        self.calls.append(("updated", status.state))

    @hookimpl
    def videoprovider_task_finished(self, task: Task, status: TaskStatus, path: str | None) -> None:
        self.calls.append(("finished", path))


async def test_host_plugins_see_submitted_updated_finished(
    make_client: MakeClient, tmp_path: Path
) -> None:
    c = make_client()
    rec = Recorder()
    c.client.register(rec)
    video = await c.generate("a cat", tmp_path / "cat.mp4")
    kinds = [k for k, _ in rec.calls]
    assert kinds[0] == "submitted" and kinds[-1] == "finished"
    assert rec.calls[0] == ("submitted", video.task.task_id)
    assert rec.calls[-1] == ("finished", video.path)
    assert ("updated", TaskState.COMPLETED) in rec.calls
    assert kinds.count("finished") == 1


async def test_async_host_hooks_are_awaited(make_client: MakeClient) -> None:
    seen: list[str] = []

    class AsyncHost:
        @hookimpl
        async def videoprovider_task_submitted(self, task: Task) -> None:
            seen.append(task.task_id)

    c = make_client(plugins=[AsyncHost()])
    task = await c.submit("a cat")
    assert seen == [task.task_id]


async def test_a_failing_host_plugin_does_not_lose_the_task(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def videoprovider_task_submitted(self, task: Task) -> None:
            raise RuntimeError("database down")

    rec = Recorder()
    c = make_client(plugins=[Broken(), rec])
    task = await c.submit("a cat")
    assert task.task_id and rec.calls == [("submitted", task.task_id)]
    assert "database down" in caplog.text


async def test_host_plugin_may_not_implement_provider_hooks(make_client: MakeClient) -> None:
    class Sneaky:
        @hookimpl
        async def videoprovider_submit(self, request: VideoRequest) -> None:
            return None

    c = make_client()
    with pytest.raises(ConfigurationError, match="implements provider hooks"):
        c.client.register(Sneaky())
    assert (await c.submit("a cat")).provider == "fake"


async def test_misspelled_host_hook_is_refused(make_client: MakeClient) -> None:
    class Typo:
        @hookimpl
        def videoprovider_task_submited(self, task: Task) -> None: ...

    with pytest.raises(ConfigurationError, match="does not exist"):
        make_client(plugins=[Typo()])


async def test_unknown_setting_lists_valid_ones(make_client: MakeClient) -> None:
    with pytest.raises(ConfigurationError, match="'scenaro'") as info:
        make_client(scenaro="fail")
    assert "scenario" in str(info.value) and "wait_timeout" in str(info.value)


def test_settings_report_names_sources() -> None:
    with VideoClient(
        "fake", config=False, environ={"VIDEOPROVIDER_WAIT_TIMEOUT": "9"}, polls=4
    ) as client:
        report = client.settings_report()
    assert report["videoprovider"]["provider"] == {"value": "fake", "source": "argument"}
    assert report["videoprovider"]["wait_timeout"]["source"] == (
        "environment (VIDEOPROVIDER_WAIT_TIMEOUT)"
    )
    assert report["fake"]["polls"] == {"value": 4, "source": "argument"}


def test_provider_chosen_by_environment() -> None:
    with VideoClient(config=False, environ={"VIDEOPROVIDER_PROVIDER": "fake"}) as client:
        assert client.provider_name == "fake"
    with pytest.raises(ConfigurationError, match="Installed providers"):
        VideoClient(config=False, environ={"VIDEOPROVIDER_PROVIDER": "nope"})


async def test_unsupported_operation_is_refused_unsent(
    make_client: MakeClient, nocancel_provider: ModuleType
) -> None:

    c = make_client(provider="nocancel")
    assert c.capabilities == {Operation.SUBMIT, Operation.STATUS}
    with pytest.raises(UnsupportedOperation) as info:
        await c.cancel("n1")
    assert info.value.operation == "cancel" and info.value.provider == "nocancel"
    assert "cannot be stopped" in str(info.value) and "Nothing was sent" in str(info.value)
    with pytest.raises(UnsupportedOperation) as info:
        await c.url("n1")
    assert info.value.operation == "url"
    assert nocancel_provider.CALLS == []


def test_closing_the_sync_client_cancels_a_wait_in_another_thread() -> None:
    import threading

    client = VideoClient("fake", config=False, environ={}, clock=VirtualClock(), scenario="stuck")
    task = client.submit("a cat")
    outcome: list[BaseException | None] = []

    def waiter() -> None:
        try:
            client.wait(task, timeout=None)
            outcome.append(None)
        except BaseException as exc:  # the cancellation surfaces here
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    client.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome and outcome[0] is not None


async def test_context_manager_closes_connections(tmp_path: Path) -> None:
    async with AsyncVideoClient("fake", config=False, environ={}, clock=VirtualClock()) as c:
        await c.generate("a cat", tmp_path / "a.mp4")
        http = c._backends.main.http
    assert http is not None and http.is_closed


async def test_wait_many_returns_outcomes_in_order(make_client: MakeClient) -> None:
    c = make_client()
    tasks = [await c.submit("a", extra={"fake": {"seconds": s}}) for s in (9.0, 3.0)]
    failing = await c.submit("b", extra={"fake": {"scenario": "fail"}})
    outcomes = await c.wait_many([*tasks, failing.task_id])
    assert [o.task.task_id for o in outcomes] == [t.task_id for t in tasks] + [failing.task_id]
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[0].status is not None and outcomes[0].status.state is TaskState.COMPLETED
    assert isinstance(outcomes[2].error, TaskFailed)


async def test_as_completed_yields_in_finishing_order(make_client: MakeClient) -> None:
    c = make_client()
    slow = await c.submit("slow", extra={"fake": {"seconds": 30.0}})
    fast = await c.submit("fast", extra={"fake": {"seconds": 3.0}})
    client = c.client
    if isinstance(client, AsyncVideoClient):
        order = [o.task.task_id async for o in client.as_completed([slow, fast])]
    else:
        order = [o.task.task_id for o in client.as_completed([slow, fast])]
    assert order == [fast.task_id, slow.task_id]


async def test_submit_with_a_target_records_it_for_resume(
    make_client: MakeClient, tmp_path: Path
) -> None:
    c = make_client(journal=tmp_path / "journal.sqlite3")
    task = await c.submit("a cat", target=tmp_path / "cat.mp4")
    entry = c.journal.get(task.task_id)
    assert entry is not None and entry.target_path == str(tmp_path / "cat.mp4")
    c.clock.advance(3600)
    (result,) = await c.resume()
    assert result.path == str(tmp_path / "cat.mp4") and (tmp_path / "cat.mp4").stat().st_size


async def test_submit_refuses_a_target_it_could_not_save_to_before_sending(
    make_client: MakeClient, tmp_path: Path
) -> None:
    (tmp_path / "cat.mp4").write_bytes(b"mine")
    c = make_client(journal=tmp_path / "journal.sqlite3")
    with pytest.raises(DownloadError, match=r"already exists.*Nothing was submitted"):
        await c.submit("a cat", target=tmp_path / "cat.mp4")
    assert c.journal.entries() == [] and (tmp_path / "cat.mp4").read_bytes() == b"mine"
