"""AsyncVideoClient: the one implementation of every client behaviour.

`VideoClient` (in `sync.py`) runs these same coroutines on a private event loop, so there is
exactly one place where submit, wait, download and generate are written.
"""

from __future__ import annotations

import inspect
import logging
import os
import platform
import random
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from . import hookspecs
from ._version import __version__
from .clock import Clock, SystemClock
from .config import Config, ConfigArg, CoreSettings, describe, load_config
from .download import (
    ProgressFn,
    cannot_save,
    check_writable,
    download_client,
    download_to,
    redact_http_logs,
    redact_url,
)
from .errors import (
    ConfigurationError,
    DownloadError,
    ProtocolError,
    TaskCanceled,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
    UnsupportedOperation,
    VideoProviderError,
)
from .journal import Journal, open_journal
from .journal.recorder import Recorder
from .journal.resume import Resumed, lease_ttl_for
from .journal.resume import resume as resume_tasks
from .models import GeneratedVideo, Task, TaskState, TaskStatus, VideoRequest
from .plugins import load_provider_class, make_plugin_manager
from .policy import AdaptivePolicy
from .provider import Declaration, Operation, ProviderContext
from .scheduler import PollScheduler

__all__ = ["AsyncVideoClient", "OnProgress", "Outcome", "TaskRef"]

log = logging.getLogger("videoprovider")

TaskRef = Task | str
OnProgress = Callable[[TaskStatus], Awaitable[None] | None]
T = TypeVar("T")


class _Default:
    def __repr__(self) -> str:
        return "<configured>"


DEFAULT: Any = _Default()


def user_agent() -> str:
    return (
        f"videoprovider/{__version__} python/{platform.python_version()} "
        f"{platform.system().lower()}"
    )


class AsyncVideoClient:
    """Generate videos with the configured provider, from async code.

    `provider` names the provider plugin (default: the configured one, else `fake`); keyword
    `settings` override configuration for this client, core settings (`wait_timeout`, ...)
    and the provider's own (`api_key`, `model`, ...) alike. `config` is a config file path,
    or False to read none; `environ` replaces `os.environ` as the environment to read. `clock`
    and `rng` make waiting deterministic in tests; `transport` is an httpx transport handed
    to the provider instead of the network; `plugins` are host plugins to register.
    `journal` records every task durably (docs/journal.md): True for the configured journal,
    a path or URL for that one, a `Journal` object, or False for none.
    """

    def __init__(
        self,
        provider: str | None = None,
        *,
        config: ConfigArg = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        plugins: Iterable[object] = (),
        journal: bool | str | os.PathLike[str] | Journal | None = None,
        **settings: Any,
    ) -> None:
        core_args = {k: settings.pop(k) for k in list(settings) if k in CoreSettings.model_fields}
        if provider is not None:
            core_args["provider"] = provider
        if isinstance(journal, bool):
            core_args["journal"] = journal
        elif isinstance(journal, (str, os.PathLike)):
            core_args.update(journal=True, journal_url=str(journal))
        self._config: Config = load_config(config=config, environ=environ, args=core_args)
        name = self._config.core.provider
        cls = load_provider_class(name)
        unknown = sorted(set(settings) - set(cls.Settings.model_fields))
        if unknown:
            valid = [*CoreSettings.model_fields, *cls.Settings.model_fields]
            raise ConfigurationError(
                f"Unknown setting {unknown[0]!r} for VideoClient with provider {name!r}. "
                f"Valid settings: {', '.join(valid)}."
            )
        self._provider_settings, self._provider_sources = self._config.resolve_provider(
            name, cls.Settings, settings
        )
        redact_http_logs()
        self._clock: Clock = clock or SystemClock()
        self._rng = rng
        self._provider_cls = cls
        context = ProviderContext(
            name=name,
            clock=self._clock,
            user_agent=user_agent(),
            transport=transport,
            logger=logging.getLogger(f"videoprovider.{name}"),
        )
        self._provider = cls(self._provider_settings, context)
        self._declared = Declaration.of(self._provider, name)
        core = self._config.core
        policy = AdaptivePolicy(
            typical_seconds=core.poll_typical_seconds or float(self._declared.typical_task_seconds),
            lag_ratio=core.poll_lag_ratio,
            min_interval=core.poll_interval,
            max_interval=max(core.poll_interval, core.poll_max_interval),
            jitter=core.poll_jitter,
            rng=rng or random.Random(),
        )
        budget = core.poll_budget
        if budget is None:
            budget = self._declared.status_rate_limit
        self._scheduler = PollScheduler(self._clock, policy, budget)
        self._pm = make_plugin_manager()
        self._pm.register(self._provider, name=f"provider:{name}")
        self._http: httpx.AsyncClient | None = None
        self._closed = False
        if isinstance(journal, Journal):
            self._journal = Recorder(journal)
        elif self._config.core.journal:
            self._journal = Recorder(open_journal(self._config.core.journal_url))
        else:
            self._journal = Recorder(None)
        if self._journal.journal is not None:
            # Tasks finished by earlier runs tell how long this provider's models take.
            for model, seconds in self._journal.journal.durations(name):
                policy.observe(model, seconds)
        for plugin in plugins:
            self.register(plugin)

    # -- what this client is --------------------------------------------------------------

    @property
    def provider_name(self) -> str:
        return self._config.core.provider

    @property
    def capabilities(self) -> frozenset[Operation]:
        """The operations the provider offers; others raise UnsupportedOperation unsent."""
        return self._declared.capabilities

    @property
    def config(self) -> Config:
        return self._config

    @property
    def scheduler(self) -> PollScheduler:
        """The poll scheduler every wait of this client shares."""
        return self._scheduler

    def settings_report(self) -> dict[str, dict[str, Any]]:
        """Every effective setting, redacted, with where it came from."""
        return {
            "videoprovider": describe(self._config.core, self._config.core_sources),
            self.provider_name: describe(self._provider_settings, self._provider_sources),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider_name!r})"

    # -- host plugins ---------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a host plugin: an object (or module) with `@hookimpl` event methods."""
        self._pm.register(plugin, name=name)
        try:
            self._pm.check_pending()
        except Exception as exc:
            self._pm.unregister(plugin)
            raise ConfigurationError(
                f"Host plugin {plugin!r} has a hook that does not exist: {exc}.",
                hint="Host plugins implement only " + ", ".join(hookspecs.EVENT_HOOKS) + ".",
            ) from None
        wrong = sorted(
            c.name
            for c in self._pm.get_hookcallers(plugin) or ()
            if c.name not in hookspecs.EVENT_HOOKS
        )
        if wrong:
            self._pm.unregister(plugin)
            raise ConfigurationError(
                f"Host plugin {plugin!r} implements provider hooks ({', '.join(wrong)}).",
                hint="A provider is a separate plugin selected by config; see "
                "docs/writing-a-provider.md.",
            )

    def unregister(self, plugin: object) -> None:
        self._pm.unregister(plugin)

    async def _emit(self, hook: str, **kwargs: Any) -> None:
        # Each host hook runs on its own: one failing observer must neither stop the others
        # nor turn a task the provider accepted into an exception that loses it.
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("host plugin %s failed in %s", impl.plugin_name, hook)

    # -- the four operations ----------------------------------------------------------------

    def _require(self, op: Operation) -> None:
        if op not in self.capabilities:
            why = self._declared.unsupported.get(op, "")
            raise UnsupportedOperation(
                f"The {self.provider_name} provider does not support {op.value}. {why}".strip(),
                provider=self.provider_name,
                operation=op.value,
            )

    def _task(self, task: TaskRef) -> Task:
        if isinstance(task, str):
            return Task(provider=self.provider_name, task_id=task)
        if task.provider != self.provider_name:
            raise ConfigurationError(
                f"Task {task.task_id} belongs to provider {task.provider!r}, but this client "
                f"uses {self.provider_name!r}.",
                hint=f"Use VideoClient(provider={task.provider!r}) for this task.",
            )
        return task

    async def _call(
        self, op: Operation, expect: type[T], for_task: str | None = None, **kwargs: Any
    ) -> T:
        self._require(op)
        pending = getattr(self._pm.hook, op.hook_name)(**kwargs)
        try:
            result = await pending
        except VideoProviderError as exc:
            exc.provider = exc.provider or self.provider_name
            exc.operation = exc.operation or op.value
            exc.task_id = exc.task_id or for_task
            raise
        if not isinstance(result, expect):
            raise ProtocolError(
                f"The {self.provider_name} provider's {op.value} returned "
                f"{type(result).__name__}, not {expect.__name__}.",
                hint="This is a bug in the provider plugin; report it to its authors.",
                provider=self.provider_name,
                operation=op.value,
                task_id=for_task,
            )
        return result

    async def submit(self, request: VideoRequest | str, **fields: Any) -> Task:
        """Start generating; return the Task at once. A str is taken as the prompt."""
        return await self._submit(request, fields, target=None)

    async def _submit(
        self, request: VideoRequest | str, fields: dict[str, Any], target: str | None
    ) -> Task:
        if isinstance(request, str):
            request = VideoRequest(prompt=request, **fields)
        elif fields:
            request = VideoRequest.model_validate({**request.model_dump(), **fields})
        self._require(Operation.SUBMIT)
        entry = self._journal.intent(self.provider_name, request, target)
        try:
            task = await self._call(Operation.SUBMIT, Task, request=request)
        except BaseException as exc:
            self._journal.submit_failed(entry, exc)
            raise
        self._journal.submitted(entry, task)
        await self._emit("videoprovider_task_submitted", task=task)
        return task

    async def status(self, task: TaskRef) -> TaskStatus:
        t = self._task(task)
        status = await self._call(Operation.STATUS, TaskStatus, t.task_id, task_id=t.task_id)
        self._journal.status(status)
        return status

    async def url(self, task: TaskRef) -> str:
        """The download URL of a completed task's video."""
        t = self._task(task)
        return await self._call(Operation.URL, str, t.task_id, task_id=t.task_id)

    async def cancel(self, task: TaskRef) -> TaskStatus:
        """Ask the provider to stop the task; return the status it answered with.

        A terminal answer (CANCELED) finishes the task's journal entry, so `resume` leaves
        it alone.
        """
        t = self._task(task)
        status = await self._call(Operation.CANCEL, TaskStatus, t.task_id, task_id=t.task_id)
        self._journal.status(status)
        if status.is_terminal:
            await self._emit("videoprovider_task_finished", task=t, status=status, path=None)
        return status

    # -- waiting, downloading, generating ---------------------------------------------------

    async def wait(
        self,
        task: TaskRef,
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> TaskStatus:
        """Poll until the task ends; return its COMPLETED status.

        Raises TaskFailed, TaskCanceled or TaskNotFound for the other endings, and
        WaitTimeout (carrying the task) when `timeout` seconds pass first; None waits forever.
        """
        return await self._wait(self._task(task), timeout, on_progress, announce_success=True)

    async def as_completed(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> AsyncIterator[Outcome]:
        """Wait for many tasks at once; yield each one's `Outcome` as soon as it ends.

        All waits share this client's scheduler and request budget. A task that fails,
        times out or is unknown yields an Outcome with `error` set instead of raising, so one
        bad task does not hide the others. Iterate to the end (or use `wait_many`).
        """
        refs = [self._task(t) for t in tasks]
        send, receive = anyio.create_memory_object_stream[Outcome](max_buffer_size=len(refs))

        async def one(task: Task) -> None:
            try:
                status = await self.wait(task, timeout=timeout, on_progress=on_progress)
            except VideoProviderError as exc:
                await send.send(Outcome(task=task, error=exc))
            else:
                await send.send(Outcome(task=task, status=status))

        async with anyio.create_task_group() as group, receive:
            for task in refs:
                group.start_soon(one, task)
            for _ in refs:
                yield await receive.receive()

    async def wait_many(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> list[Outcome]:
        """Wait for many tasks at once; return their Outcomes in the order given."""
        refs = [self._task(t) for t in tasks]
        done: dict[str, Outcome] = {}
        async for outcome in self.as_completed(refs, timeout=timeout, on_progress=on_progress):
            done[outcome.task.task_id] = outcome
        return [done[t.task_id] for t in refs]

    async def _wait(
        self,
        task: Task,
        timeout: float | None,
        on_progress: OnProgress | None,
        *,
        announce_success: bool,
        fetch: Callable[[Task], Awaitable[TaskStatus]] | None = None,
    ) -> TaskStatus:
        self._require(Operation.STATUS)

        async def on_change(status: TaskStatus, previous: TaskStatus | None) -> None:
            await self._emit(
                "videoprovider_task_updated", task=task, status=status, previous=previous
            )
            if on_progress is not None:
                result = on_progress(status)
                if inspect.isawaitable(result):
                    await result

        final = await self._scheduler.wait(
            task,
            fetch or self.status,
            on_change,
            self._config.core.wait_timeout if timeout is DEFAULT else timeout,
        )
        if final.state is not TaskState.COMPLETED or announce_success:
            await self._emit("videoprovider_task_finished", task=task, status=final, path=None)
        _raise_for_ending(task, final)
        return final

    def _download_http(self) -> httpx.AsyncClient:
        if self._http is None:
            mounts: dict[str, httpx.AsyncBaseTransport] = {}
            for extra in self._pm.hook.videoprovider_http_mounts():
                mounts.update(extra or {})
            self._http = download_client(
                mounts=mounts,
                timeout=httpx.Timeout(10.0, read=self._config.core.download_timeout),
                headers={"User-Agent": user_agent()},
                # A provider whose service runs on this machine (an emulator) serves its
                # videos from loopback too.
                allow_loopback=self._declared.local_service,
                allow_private=self._config.core.download_allow_private,
            )
        return self._http

    async def download(
        self,
        task: TaskRef,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
    ) -> Path:
        """Save a completed task's video to `path` (a file or directory)."""
        if isinstance(task, str) and "://" in task:
            # A host passing its user's "task id" here must not fetch arbitrary URLs.
            raise DownloadError(
                f"{redact_url(task)!r} is a URL, not a task id; download() takes tasks only.",
                hint="Use download_url(url, path) to save a video from a URL.",
                provider=self.provider_name,
                operation="download",
            )
        saved, _ = await self._download(task, path, overwrite=overwrite, on_bytes=on_bytes)
        return saved

    async def download_url(
        self,
        url: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
    ) -> Path:
        """Save the video at `url` (http or https) to `path` (a file or directory).

        Hosts that resolve to loopback, private or link-local addresses are refused on every
        redirect hop, unless `download_allow_private` is set, and so are https→http redirects.
        """
        saved, _ = await self._save(url, path, None, overwrite=overwrite, on_bytes=on_bytes)
        return saved

    async def _download(
        self,
        task: TaskRef,
        path: str | os.PathLike[str],
        *,
        overwrite: bool,
        on_bytes: ProgressFn | None,
        status: TaskStatus | None = None,
    ) -> tuple[Path, int]:
        t = self._task(task)
        url = await self._video_url(t, status)
        saved, size = await self._save(url, path, t.task_id, overwrite=overwrite, on_bytes=on_bytes)
        self._journal.collected(self.provider_name, t.task_id, str(saved))
        return saved, size

    async def _save(
        self,
        url: str,
        path: str | os.PathLike[str],
        task_id: str | None,
        *,
        overwrite: bool,
        on_bytes: ProgressFn | None,
    ) -> tuple[Path, int]:
        return await download_to(
            self._download_http(),
            url,
            path,
            max_bytes=self._config.core.download_max_bytes,
            overwrite=overwrite,
            default_name=f"{task_id or 'video'}.mp4",
            on_bytes=on_bytes,
            context={"provider": self.provider_name, "operation": "download", "task_id": task_id},
        )

    async def _video_url(self, task: Task, status: TaskStatus | None) -> str:
        if status is not None and status.video_url:
            return status.video_url
        if Operation.URL in self.capabilities:
            return await self.url(task)
        status = await self.status(task)
        _raise_for_ending(task, status)
        if not status.video_url:
            raise TaskNotReady(
                f"Task {task.task_id} is {status.state.value}; it has no video yet.",
                provider=self.provider_name,
                operation="download",
                task_id=task.task_id,
            )
        return status.video_url

    async def generate(
        self,
        request: VideoRequest | str,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
        **fields: Any,
    ) -> GeneratedVideo:
        """Submit, wait and download in one call; return the task, status and saved path.

        Nothing is submitted unless the video could be saved at `path` now. A download that
        fails after that raises DownloadError whose hint says how to collect the video later;
        the journal keeps the task until it is collected.
        """
        # Checked before paying for a video that could then not be saved.
        if not overwrite:
            _refuse_existing(path)
        _refuse_unwritable(path)
        target = str(Path(path).expanduser().absolute())
        task = await self._submit(request, fields, target=target)
        final = await self._wait(task, timeout, on_progress, announce_success=False)
        try:
            saved, size = await self._download(
                task, path, overwrite=overwrite, on_bytes=on_bytes, status=final
            )
        except DownloadError as exc:
            exc.hint = f"{exc.hint} {self._collect_later(task, target)}"
            raise
        await self._emit("videoprovider_task_finished", task=task, status=final, path=str(saved))
        return GeneratedVideo(task=task, status=final, path=str(saved), bytes=size)

    def _collect_later(self, task: Task, target: str) -> str:
        command = (
            f"videoprovider --provider {shlex.quote(task.provider)} download "
            f"{shlex.quote(task.task_id)} --out {shlex.quote(target)}"
        )
        if self._journal.journal is None:
            return f"The task has finished; collect its video with: {command}"
        return (
            "The finished task stays in the journal; collect its video with: "
            f"{command} (or: videoprovider tasks resume)"
        )

    async def resume(
        self,
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        limit: int | None = None,
    ) -> list[Resumed]:
        """Re-attach to every unfinished task in the journal and wait for them concurrently.

        Tasks `generate` started are downloaded to their target path. Each task is leased,
        so workers sharing a journal never poll the same task at once; `limit` caps how many
        one worker takes, to spread them over several. Returns what happened to each entry;
        failures are reported there, not raised.
        """
        if self._journal.journal is None:
            raise ConfigurationError(
                "resume() needs the journal, and this client has none.",
                hint="Create the client with journal=True (or set VIDEOPROVIDER_JOURNAL=true).",
            )
        return await resume_tasks(
            self,
            timeout=timeout,
            lease_ttl=lease_ttl_for(self),
            on_progress=on_progress,
            limit=limit,
        )

    @property
    def journal(self) -> Journal | None:
        return self._journal.journal

    # -- lifetime -------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._http is not None:
            await self._http.aclose()
        for pending in self._pm.hook.videoprovider_aclose():
            if inspect.isawaitable(pending):
                await pending
        self._journal.close()

    async def __aenter__(self) -> AsyncVideoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass(frozen=True)
class Outcome:
    """How one of many waited-for tasks ended: its final status, or the error it ended with."""

    task: Task
    status: TaskStatus | None = None
    error: VideoProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _refuse_existing(path: str | os.PathLike[str]) -> None:
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise DownloadError(
            f"{target} already exists; videoprovider never replaces a file unless asked. "
            "Nothing was submitted.",
            hint="Choose another path, or pass overwrite=True (CLI: --overwrite).",
        )


def _refuse_unwritable(path: str | os.PathLike[str]) -> None:
    try:
        check_writable(path)
    except OSError as exc:
        raise cannot_save(
            Path(path).expanduser().absolute(),
            exc,
            hint="Choose a folder you can write to, or fix its permissions. Nothing was submitted.",
        ) from None


def _raise_for_ending(task: Task, status: TaskStatus) -> None:
    where: dict[str, Any] = {
        "provider": task.provider,
        "task_id": task.task_id,
        "request_id": status.request_id,
    }
    if status.state is TaskState.FAILED:
        detail = ": ".join(x for x in (status.error_code, status.error_message) if x)
        raise TaskFailed(
            f"Task {task.task_id} failed" + (f" ({detail})." if detail else "."),
            task=task,
            status=status,
            code=status.error_code,
            hint="Adjust the request and submit again; the provider's message says why.",
            **where,
        )
    if status.state is TaskState.CANCELED:
        raise TaskCanceled(f"Task {task.task_id} was canceled.", task=task, status=status, **where)
    if status.state is TaskState.UNKNOWN:
        raise TaskNotFound(
            f"The {task.provider} provider does not know task {task.task_id}.", **where
        )
