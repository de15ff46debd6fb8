"""One loaded provider as a client uses it: its settings, its hooks, its poll scheduler.

A client holds one `Backend` per provider name it has met: the configured provider, loaded
at once, and any other installed provider a task reference routes to, loaded on first use.
Each has its own request budget; the budget is the provider's, not the client's.
"""

from __future__ import annotations

import logging
import platform
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pluggy
from pydantic import ValidationError

from ._version import __version__
from .clock import Clock
from .config import Config, CoreSettings
from .download import download_client
from .download_credentials import CredentialHeaders
from .errors import (
    ConfigurationError,
    ProtocolError,
    SubmitOutcomeUnknown,
    UnsupportedOperation,
    VideoProviderError,
)
from .journal import Journal, worker_id
from .journal.workers import AccountShare, account_key
from .models import Task, TaskPage, TaskState, VideoRequest
from .plugins import distribution_of, load_provider_class, make_plugin_manager
from .policy import AdaptivePolicy
from .provider import Declaration, Operation, ProviderContext
from .refs import TaskRef, installed_provider_names, to_task
from .scheduler import PollScheduler
from .usage import ProviderUsage, RequestCounts, requests_of
from .watching import Watcher, stream_opener

__all__ = ["Backend", "Backends", "load_backend", "user_agent"]

T = TypeVar("T")


def user_agent() -> str:
    return (
        f"videoprovider/{__version__} python/{platform.python_version()} "
        f"{platform.system().lower()}"
    )


def require(name: str, declared: Declaration, op: Operation) -> None:
    """Refuse, unsent, an operation the provider `name` does not declare."""
    if op not in declared.capabilities:
        why = declared.unsupported.get(op, "")
        raise UnsupportedOperation(
            f"The {name} provider does not support {op.value}. {why}".strip(),
            provider=name,
            operation=op.value,
        )


def plugin_bug(
    name: str,
    operation: str,
    task_id: str | None,
    exc: Exception,
    request: VideoRequest | None = None,
) -> VideoProviderError:
    """What a provider's unexpected exception becomes: an error naming the plugin and its
    package. A submit's is SubmitOutcomeUnknown: nothing says the request had not left, and
    a task that may be billed must not be journaled as refused."""
    package = distribution_of(name)
    text = str(exc).split("\n", 2)[:2] if isinstance(exc, ValidationError) else [str(exc)]
    said = f"{type(exc).__name__}: {' '.join(text)}" if text[0] else type(exc).__name__
    message = f"The {name} provider" + (f" (package {package})" if package else "")
    message += f" failed in {operation} with {said}"
    message += _unmapped_state(exc)
    hint = f"This is a bug in the {name} provider plugin; report it to its authors"
    hint += f" ({package})." if package else "."
    where: dict[str, Any] = {"provider": name, "operation": operation, "task_id": task_id}
    if operation == "submit":
        hint += (
            " The request may have reached the service: check its task list before "
            "submitting again (videoprovider tasks list shows it as outcome unknown)."
        )
        return SubmitOutcomeUnknown(message, request=request, hint=hint, **where)
    return ProtocolError(message, hint=hint, **where)


def _unmapped_state(exc: Exception) -> str:
    # TaskState("RUNNING") or TaskStatus(state="RUNNING"): the service's own word for a
    # state reached the core unmapped; say what the plugin must do about it.
    if isinstance(exc, ValidationError):
        unmapped = any(e["loc"][-1:] == ("state",) and e["type"] == "enum" for e in exc.errors())
    else:
        unmapped = isinstance(exc, ValueError) and "is not a valid TaskState" in str(exc)
    if not unmapped:
        return ""
    allowed = ", ".join(s.value for s in TaskState)
    return (
        f". It handed TaskStatus a state string that is not a TaskState ({allowed}): map "
        "each of the service's states to one in the plugin, UNKNOWN for any it cannot place"
    )


@dataclass
class Backend:
    """A provider instance with the plugin manager that calls it and the scheduler its waits
    share."""

    name: str
    cls: type[Any]
    provider: Any
    declared: Declaration
    settings: Any
    sources: dict[str, str]
    pm: pluggy.PluginManager
    scheduler: PollScheduler
    http: httpx.AsyncClient | None = None
    share: AccountShare | None = None
    watcher: Watcher | None = None  # when the provider streams task statuses
    requests: RequestCounts | None = None  # what its API clients sent (its context's)

    @property
    def capabilities(self) -> frozenset[Operation]:
        return self.declared.capabilities

    def require(self, op: Operation) -> None:
        require(self.name, self.declared, op)

    def learn_from(self, journal: Journal | None) -> None:
        """Start the poll policy from how long this provider's tasks took in earlier runs."""
        if journal is not None:
            for model, seconds in journal.durations(self.name):
                self.scheduler.policy.observe(model, seconds)

    def share_budget(self, journal: Journal | None) -> None:
        """Spend only this worker's share of the account's request budget when other workers
        poll through the same journal (core/journal/workers.py)."""
        if journal is not None and self.scheduler.budget is not None and self.share is None:
            account = account_key(self.name, self.settings)
            self.share = AccountShare(journal, account, worker_id(), self.scheduler.clock)
            self.scheduler.share = self.share

    def usage(self) -> ProviderUsage:
        """The requests sent so far and the request budget in use now."""
        counts = self.requests or RequestCounts()
        window = self.scheduler.window
        return ProviderUsage(
            provider=self.name,
            requests=dict(counts.sent),
            throttled=counts.throttled,
            budget=self.scheduler.budget,
            in_use=window.in_use(self.scheduler.clock.monotonic()),
        )

    def leave(self) -> None:
        """Give the share back to the other workers (a client closing)."""
        if self.share is not None:
            self.share.leave()

    async def invoke(
        self, hook: str, operation: str, expect: type[T], for_task: str | None, **kwargs: Any
    ) -> T:
        """Await the provider's `hook`; its errors name the provider, operation and task, and
        a reply of the wrong type is a ProtocolError (a bug in the plugin)."""
        try:
            with requests_of(operation):
                result = await getattr(self.pm.hook, hook)(**kwargs)
        except VideoProviderError as exc:
            exc.provider = exc.provider or self.name
            exc.operation = exc.operation or operation
            exc.task_id = exc.task_id or for_task
            raise
        except Exception as exc:
            raise plugin_bug(self.name, operation, for_task, exc, kwargs.get("request")) from exc
        if not isinstance(result, expect):
            raise ProtocolError(
                f"The {self.name} provider's {operation} returned "
                f"{type(result).__name__}, not {expect.__name__}.",
                hint="This is a bug in the provider plugin; report it to its authors.",
                provider=self.name,
                operation=operation,
                task_id=for_task,
            )
        return result

    def check_request(self, request: VideoRequest) -> None:
        """The provider's own refusal of `request`, unsent (its optional check hook)."""
        try:
            self.pm.hook.videoprovider_check_request(request=request)
        except VideoProviderError as exc:
            exc.provider = exc.provider or self.name
            exc.operation = exc.operation or "submit"
            raise

    async def list_page(
        self, since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
    ) -> TaskPage:
        """One page of the provider's task listing (one request)."""
        return await self.invoke(
            "videoprovider_list_tasks",
            "list",
            TaskPage,
            None,
            since=since,
            until=until,
            model=model,
            finished=finished,
            page=page,
        )

    def download_http(self, config: Config) -> httpx.AsyncClient:
        """The client that fetches this provider's videos (its mounts, its loopback rule)."""
        if self.http is None:
            mounts: dict[str, httpx.AsyncBaseTransport] = {}
            for extra in self.pm.hook.videoprovider_http_mounts():
                mounts.update(extra or {})
            self.http = download_client(
                mounts=mounts,
                # download_timeout bounds the whole download (download_to); a read that
                # stalls for 30 s fails sooner.
                timeout=httpx.Timeout(10.0, read=min(config.core.download_timeout, 30.0)),
                headers={"User-Agent": user_agent()},
                # A provider whose service runs on this machine (an emulator) serves its
                # videos from loopback too.
                allow_loopback=self.declared.local_service,
                allow_private=config.core.download_allow_private,
                credentials=CredentialHeaders(
                    lambda url: self.pm.hook.videoprovider_download_headers(url=url)
                ),
            )
        return self.http


def load_backend(
    name: str,
    settings: Mapping[str, Any],
    *,
    config: Config,
    clock: Clock,
    rng: random.Random | None,
    transport: httpx.AsyncBaseTransport | None,
    journal: Journal | None,
) -> Backend:
    """Load provider `name` with `settings` over its configured ones; ConfigurationError
    (listing what is installed, or the valid settings) when that cannot be done."""
    cls = load_provider_class(name)
    unknown = sorted(set(settings) - set(cls.Settings.model_fields))
    if unknown:
        valid = [*CoreSettings.model_fields, *cls.Settings.model_fields]
        raise ConfigurationError(
            f"Unknown setting {unknown[0]!r} for VideoClient with provider {name!r}. "
            f"Valid settings: {', '.join(valid)}."
        )
    resolved, sources = config.resolve_provider(name, cls.Settings, settings)
    context = ProviderContext(
        name=name,
        clock=clock,
        user_agent=user_agent(),
        transport=transport,
        logger=logging.getLogger(f"videoprovider.{name}"),
    )
    provider = cls(resolved, context)
    declared = Declaration.of(provider, name)
    core = config.core
    # With updates pushed, polls are only the safety net for a lost delivery: look at each
    # task rarely (ages doubling, every 30 s to 5 min) instead of near its likely end.
    pushed = declared.pushes_updates
    policy = AdaptivePolicy(
        typical_seconds=core.poll_typical_seconds or float(declared.typical_task_seconds),
        lag_ratio=max(core.poll_lag_ratio, 1.0) if pushed else core.poll_lag_ratio,
        min_interval=max(core.poll_interval, 30.0) if pushed else core.poll_interval,
        max_interval=max(core.poll_interval, core.poll_max_interval, 300.0 if pushed else 0.0),
        jitter=core.poll_jitter,
        rng=rng or random.Random(),
    )
    budget = core.poll_budget
    if budget is None:
        budget = declared.status_rate_limit
    pm = make_plugin_manager()
    pm.register(provider, name=f"provider:{name}")
    backend = Backend(
        name=name,
        cls=cls,
        provider=provider,
        declared=declared,
        settings=resolved,
        sources=sources,
        pm=pm,
        scheduler=PollScheduler(clock, policy, budget),
        requests=context.requests,
    )
    if core.poll_listing and pm.hook.videoprovider_list_tasks.get_hookimpls():
        backend.scheduler.use_listing(backend.list_page)
    # Pushed updates cost no request at all: a stream beside them would only add some.
    if declared.status_stream and not pushed and core.watch_streams > 0:
        backend.watcher = Watcher(backend.scheduler, stream_opener(pm.hook), core.watch_streams)
    backend.learn_from(journal)
    backend.share_budget(journal)
    return backend


class Backends:
    """The providers one client has met: the configured one, and any other installed provider
    a task reference routed to, loaded by `load` on first use."""

    def __init__(self, main: Backend, load: Callable[[str], Backend]) -> None:
        self.main = main
        self._load = load
        self._by_name = {main.name: main}
        self._installed: frozenset[str] | None = None

    def __iter__(self) -> Iterator[Backend]:
        return iter(list(self._by_name.values()))

    def get(self, name: str) -> Backend:
        if name not in self._by_name:
            self._by_name[name] = self._load(name)
        return self._by_name[name]

    def task(self, ref: TaskRef) -> Task:
        """The Task `ref` means (bare ids belong to the configured provider)."""
        return to_task(ref, self.main.name, self._installed_names)

    def _installed_names(self) -> frozenset[str]:
        if self._installed is None:
            self._installed = installed_provider_names() | set(self._by_name)
        return self._installed

    async def call(self, op: Operation, expect: type[T], task: Task | None, **kwargs: Any) -> T:
        """Call `op` on the provider of `task` (the configured one for None); errors name
        the provider, operation and task, and a reply of the wrong type is a ProtocolError."""
        backend = self.main if task is None else self.get(task.provider)
        backend.require(op)
        for_task = task.task_id if task is not None else None
        return await backend.invoke(op.hook_name, op.value, expect, for_task, **kwargs)
