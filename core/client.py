"""AsyncVideoClient: the one implementation of every client behaviour.

`VideoClient` (in `sync.py`) runs these same coroutines on a private event loop, so there is
exactly one place where submit, wait, download and generate are written. Loading providers
lives in `backend.py`, host plugins in `hosts.py`, reading task references in `refs.py`,
waiting in `waiting.py`, saving videos in `collector.py`, picking journaled tasks up again
in `resume.py`; this module puts them together behind the public methods.
"""

from __future__ import annotations

import inspect
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx

from .backend import Backends, load_backend
from .calls import TaskCalls
from .clock import Clock, SystemClock
from .collector import Collector
from .config import Config, ConfigArg, CoreSettings, describe, load_config
from .download import ProgressFn, check_target, redact_http_logs, redact_url
from .errors import (
    ConfigurationError,
    DownloadError,
    RequestRejected,
)
from .hosts import HostPlugins
from .intake import to_request as _request
from .journal import Journal, open_journal
from .journal.entry import JournalEntry
from .journal.recorder import Recorder
from .models import GeneratedVideo, Task, TaskStatus, VideoRequest
from .outcomes import Outcome
from .prices import Estimate, check_cap
from .pricing import Pricing
from .provider import Operation
from .reconcile import Orphan, Reconciler, with_submit_id
from .refs import TaskRef
from .resume import Resumed, Resumer, lease_ttl
from .scheduler import PollScheduler
from .spending import SpendCap
from .usage import ProviderUsage
from .waiting import DEFAULT, OnProgress, Waiter
from .webhooks import Inbox

__all__ = ["DEFAULT", "AsyncVideoClient", "OnProgress", "Outcome", "TaskRef"]

Cap = Decimal | float | int | str


class AsyncVideoClient:
    """Generate videos with the configured provider, from async code.

    `provider` names the provider plugin (default: the configured one, else `fake`); keyword
    `settings` override configuration for this client, core settings (`wait_timeout`, ...)
    and the provider's own (`api_key`, `model`, ...) alike. `config` is a config file path,
    or False to read none; `environ` replaces `os.environ` as the environment to read. `clock`
    and `rng` make waiting deterministic in tests; `transport` is an httpx transport handed
    to the provider (and to any provider a task reference routes to) instead of the network;
    `plugins` are host plugins to register.
    `journal` records every task durably (docs/journal.md): True for the configured journal,
    a path or URL for that one, a `Journal` object, or False for none.

    Task references naming another installed provider (`"replicate:abc"`, or a Task of it)
    are routed to it: it is loaded on first use with its configured settings, once per
    client, with its own request budget.
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
        redact_http_logs()
        self._clock: Clock = clock or SystemClock()
        self._load = partial(
            load_backend, config=self._config, clock=self._clock, rng=rng, transport=transport
        )
        # The configured provider is checked (name, settings) before the journal opens.
        name = self._config.core.provider
        main = self._load(name, settings, journal=None)
        core = self._config.core
        self._spend_cap = (
            None if core.max_spend is None else SpendCap.parse(core.max_spend, core.spend_period)
        )
        opened: Journal | None = None
        if isinstance(journal, Journal):
            opened = journal
        elif core.journal:
            # Stamped by this client's clock, as the spending periods it counts are.
            opened = open_journal(core.journal_url, clock=self._clock)
        elif self._spend_cap is not None:
            raise ConfigurationError(
                "max_spend needs the journal: the spending of the period is read from it.",
                hint="Create the client with journal=True (or set VIDEOPROVIDER_JOURNAL=true).",
            )
        self._recorder = Recorder(opened)
        main.learn_from(opened)
        main.share_budget(opened)
        self._backends = Backends(main, partial(self._load, settings={}, journal=opened))
        self._pricing = Pricing(self._config, self._backends.get)
        self._pricing.user_prices(name)  # a malformed [prices] row fails here, not at a cap
        self._calls = TaskCalls(self._backends, self._pricing, self._recorder)
        self._hosts = HostPlugins()
        self._waiter = Waiter(self._config, self._hosts, self._calls)
        self._collector = Collector(self._config, self._calls)
        self._inbox = Inbox(self._waiter)
        self._closed = False
        for plugin in plugins:
            self.register(plugin)

    # -- what this client is --------------------------------------------------------------

    @property
    def provider_name(self) -> str:
        return self._config.core.provider

    @property
    def capabilities(self) -> frozenset[Operation]:
        """The operations the provider offers; others raise UnsupportedOperation unsent."""
        return self._backends.main.capabilities

    @property
    def config(self) -> Config:
        return self._config

    @property
    def scheduler(self) -> PollScheduler:
        """The poll scheduler every wait of this client's provider shares."""
        return self._backends.main.scheduler

    def settings_report(self) -> dict[str, dict[str, Any]]:
        """Every effective setting, redacted, with where it came from."""
        report = {"videoprovider": describe(self._config.core, self._config.core_sources)}
        for backend in self._backends:
            report[backend.name] = describe(backend.settings, backend.sources)
        return report

    def usage(self) -> list[ProviderUsage]:
        """Per provider this client has met: the requests its API clients sent, by kind,
        the throttled replies among them, and its request budget in use (core/usage.py)."""
        return [backend.usage() for backend in self._backends]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider_name!r})"

    # -- host plugins ---------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a host plugin: an object (or module) with `@hookimpl` event methods."""
        self._hosts.register(plugin, name)

    def unregister(self, plugin: object) -> None:
        self._hosts.unregister(plugin)

    # -- the four operations ----------------------------------------------------------------

    async def submit(
        self,
        request: VideoRequest | str,
        *,
        target: str | os.PathLike[str] | None = None,
        max_cost: Cap | None = None,
        allow_unknown_cost: bool = False,
        **fields: Any,
    ) -> Task:
        """Start generating; return the Task at once. A str is taken as the prompt.

        `target` (a file or folder) records where the video should go: `resume()` (CLI:
        `tasks resume`) downloads it there once it is ready. It is refused before anything
        is sent if a video could not be saved there now (a file exists, no write access).
        `max_cost` (a number in the price's currency, or "2.50 USD") refuses, unsent, a
        request whose `estimate` exceeds it, or is unknown unless `allow_unknown_cost`; so
        does the `max_spend` setting, for the spending of its period (docs/configuration.md).
        """
        where = None if target is None else check_target(target, overwrite=False)
        return await self._submit(request, fields, target=where, cap=(max_cost, allow_unknown_cost))

    def estimate(self, request: VideoRequest | str, **fields: Any) -> Estimate:
        """What `request` is expected to cost on the configured provider (docs/configuration.md):
        the amount, currency, basis and price date, or unknown with the reason."""
        request = _request(request, fields)
        self._backends.main.check_request(request)  # an estimate only for what would run
        return self._pricing.estimate(self._backends.main, request)

    async def _submit(
        self,
        request: VideoRequest | str,
        fields: dict[str, Any],
        target: str | None,
        cap: tuple[Cap | None, bool] = (None, False),
    ) -> Task:
        request = _request(request, fields)
        self._backends.main.require(Operation.SUBMIT)
        # Chosen here, so the journal holds the id before the submit leaves.
        request = with_submit_id(request, self._backends.main.declared.recoverable_submits)
        max_cost, allow_unknown = cap
        found = self.estimate(request)
        if max_cost is not None:
            check_cap(found, max_cost, allow_unknown=allow_unknown)
        entry = await self._recorder.intent(
            self.provider_name,
            request,
            target,
            estimate=found,
            within=None
            if self._spend_cap is None
            else self._spend_cap.within(found, self._clock.now(), allow_unknown=allow_unknown),
        )
        try:
            task = await self._backends.call(Operation.SUBMIT, Task, None, request=request)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):  # recorded even when cancelled (Ctrl-C)
                await self._recorder.submit_failed(entry, exc)
            raise
        with anyio.CancelScope(shield=True):  # the task exists now: never lose its id
            await self._recorder.submitted(entry, task)
        await self._hosts.emit("videoprovider_task_submitted", task=task)
        return task

    async def status(self, task: TaskRef) -> TaskStatus:
        return await self._calls.status(self._backends.task(task))

    async def url(self, task: TaskRef) -> str:
        """The download URL of a completed task's video."""
        return await self._calls.url(self._backends.task(task))

    async def cancel(self, task: TaskRef) -> TaskStatus:
        """Ask the provider to stop the task; return the status it answered with.

        A terminal answer (CANCELED) finishes the task's journal entry, so `resume` leaves
        it alone.
        """
        t = self._backends.task(task)
        status = await self._backends.call(Operation.CANCEL, TaskStatus, t, task_id=t.task_id)
        status = await self._calls.record(t, status)
        if status.is_terminal:
            await self._waiter.finished(t, status, None)
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
        return await self._waiter.wait(
            self._backends.task(task), timeout, on_progress, announce_success=True
        )

    async def as_completed(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> AsyncIterator[Outcome]:
        """Wait for many tasks at once; yield each one's `Outcome` as soon as it ends.

        All waits for one provider share its scheduler and request budget. A task that
        fails, times out or is unknown yields an Outcome with `error` set instead of raising,
        so one bad task does not hide the others. Iterate to the end (or use `wait_many`).
        """
        refs = [self._backends.task(t) for t in tasks]
        async for outcome in self._waiter.as_completed(refs, timeout, on_progress):
            yield outcome

    async def wait_many(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> list[Outcome]:
        """Wait for many tasks at once; return their Outcomes in the order given."""
        refs = [self._backends.task(t) for t in tasks]
        done: dict[tuple[str, str], Outcome] = {}
        async for outcome in self.as_completed(refs, timeout=timeout, on_progress=on_progress):
            done[outcome.task.provider, outcome.task.task_id] = outcome
        return [done[t.provider, t.task_id] for t in refs]

    async def download(
        self,
        task: TaskRef,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
        status: TaskStatus | None = None,
    ) -> Path:
        """Save a completed task's video to `path` (a file or directory).

        `status`, the task's final status from `wait`, saves asking the provider for the
        video's URL again: a request outside the poll budget, which many videos ending
        together can push over the account's limit.
        """
        if isinstance(task, str) and "://" in task:
            # A host passing its user's "task id" here must not fetch arbitrary URLs.
            raise DownloadError(
                f"{redact_url(task)!r} is a URL, not a task id; download() takes tasks only.",
                hint="Use download_url(url, path) to save a video from a URL.",
                provider=self.provider_name,
                operation="download",
            )
        found = self._backends.task(task)
        if status is not None and (status.provider, status.task_id) != (
            found.provider,
            found.task_id,
        ):
            raise RequestRejected(
                f"status is of task {status.provider}:{status.task_id}, not of {found.ref}.",
                field="status",
                hint="Pass the status that wait() returned for this task, or none.",
                provider=found.provider,
                operation="download",
            )
        saved, _ = await self._collector.download(
            found, path, overwrite=overwrite, on_bytes=on_bytes, status=status
        )
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
        saved, _ = await self._collector.save(
            self._backends.main, url, path, None, overwrite, on_bytes
        )
        return saved

    async def generate(
        self,
        request: VideoRequest | str,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
        max_cost: Cap | None = None,
        allow_unknown_cost: bool = False,
        **fields: Any,
    ) -> GeneratedVideo:
        """Submit, wait and download in one call; return the task, status and saved path.

        Nothing is submitted unless the video could be saved at `path` now, nor when its
        estimate exceeds `max_cost` (see `submit`). A download that fails after that raises
        DownloadError whose hint says how to collect the video later; the journal keeps the
        task until it is collected.
        """
        # Checked before paying for a video that could then not be saved.
        target = check_target(path, overwrite=overwrite)
        task = await self._submit(
            request, fields, target=target, cap=(max_cost, allow_unknown_cost)
        )
        final = await self._waiter.wait(task, timeout, on_progress, announce_success=False)
        try:
            saved, size = await self._collector.download(
                task, path, overwrite=overwrite, on_bytes=on_bytes, status=final
            )
        except DownloadError as exc:
            exc.hint = f"{exc.hint} {self._collector.collect_later(task, target)}"
            raise
        await self._waiter.finished(task, final, str(saved))
        return GeneratedVideo(task=task, status=final, path=str(saved), bytes=size)

    async def resume(
        self,
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        limit: int | None = None,
    ) -> list[Resumed]:
        """Re-attach to this provider's unfinished journaled tasks and wait for them together.

        Tasks submitted with a `target` (and by `generate`) are downloaded there. Each task
        is leased, so workers sharing a journal never poll the same task at once; `limit`
        caps how many one worker takes, to spread them over several. Submits whose outcome is
        unknown are first found again by their client-chosen id where the provider declares
        `recoverable_submits`, and then resumed like the rest. Returns what happened
        to each entry; failures are reported there, not raised.
        """
        if self._recorder.journal is None:
            raise ConfigurationError(
                "resume() needs the journal, and this client has none.",
                hint="Create the client with journal=True (or set VIDEOPROVIDER_JOURNAL=true).",
            )

        async def wait(task: Task, fetch: Callable[[Task], Awaitable[TaskStatus]]) -> TaskStatus:
            return await self._waiter.wait(
                task, timeout, on_progress, announce_success=False, fetch=fetch
            )

        async def download(task: Task, target: str, final: TaskStatus) -> str:
            saved, _ = await self._collector.download(
                task, target, overwrite=False, on_bytes=None, status=final
            )
            return str(saved)

        # Unknown outcomes of a provider with recoverable submits become tasks to resume.
        await self._reconciler().recover(self.provider_name)
        resumer = Resumer(
            recorder=self._recorder,
            provider=self.provider_name,
            status=self._calls.status,
            wait=wait,
            download=download,
            finished=self._waiter.finished,
            ttl=lease_ttl(float(self._config.core.poll_max_interval)),
        )
        return await resumer.run(limit)

    @property
    def journal(self) -> Journal | None:
        return self._recorder.journal

    async def orphans(self) -> list[Orphan]:
        """Journal entries whose submit's outcome is unknown, each with the tasks of the
        provider's listing that no entry claims and that could be its own."""
        return await self._reconciler().orphans()

    async def adopt(self, entry_id: str, task_id: str) -> JournalEntry:
        """Make `task_id` the task of an unknown-outcome entry; it then resumes as usual."""
        return await self._reconciler().adopt(entry_id, task_id)

    async def abandon(self, entry_id: str) -> JournalEntry:
        """Settle an unknown-outcome entry as having no task to follow."""
        return await self._reconciler().abandon(entry_id)

    def _reconciler(self) -> Reconciler:
        return Reconciler(self._recorder, self._backends.get)

    # -- pushed updates -------------------------------------------------------------------

    async def receive_webhook(
        self, headers: Mapping[str, str], body: bytes, *, provider: str | None = None
    ) -> TaskStatus | None:
        """Hand a delivery your web server received from the provider's service to it.

        Pass the request's headers and its raw body unchanged. A verified delivery updates
        its task at once: the journal records it, waits on it return without another poll,
        host plugins hear of it. A *notice* (a task said finished without its result, as
        DashScope's completion events are) costs one status request instead: the waits on
        the task make it ahead of every other poll, or, when none waits here, this call
        makes it. Returns the status (for a notice the waits fetch, the state it announced),
        or None for a replay of a delivery already applied. Raises WebhookRejected (its
        `http_status` is the answer to send) for a forged, stale or malformed delivery; then
        nothing changes.
        """
        backend = self._backends.get(provider) if provider else self._backends.main
        return await self._inbox.receive(backend, headers, body)

    # -- lifetime -------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for backend in self._backends:
            await self._recorder.run(backend.leave)
            if backend.http is not None:
                await backend.http.aclose()
            for pending in backend.pm.hook.videoprovider_aclose():
                if inspect.isawaitable(pending):
                    await pending
        await self._recorder.close()

    async def __aenter__(self) -> AsyncVideoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
