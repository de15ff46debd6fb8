"""One loaded provider as a client uses it: its settings, its hooks, its poll scheduler.

A client holds one `Backend` per provider name it has met: the configured provider, loaded
at once, and any other installed provider a task reference routes to, loaded on first use.
Each has its own request budget; the budget is the provider's, not the client's.
"""

from __future__ import annotations

import logging
import platform
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pluggy

from ._version import __version__
from .clock import Clock
from .config import Config, CoreSettings
from .download import download_client
from .errors import ConfigurationError, UnsupportedOperation
from .journal.recorder import Recorder
from .plugins import load_provider_class, make_plugin_manager
from .policy import AdaptivePolicy
from .provider import Operation, ProviderContext
from .scheduler import PollScheduler

__all__ = ["Backend", "load_backend", "user_agent"]


def user_agent() -> str:
    return (
        f"videoprovider/{__version__} python/{platform.python_version()} "
        f"{platform.system().lower()}"
    )


@dataclass
class Backend:
    """A provider instance with the plugin manager that calls it and the scheduler its waits
    share."""

    name: str
    cls: type[Any]
    provider: Any
    settings: Any
    sources: dict[str, str]
    pm: pluggy.PluginManager
    scheduler: PollScheduler
    http: httpx.AsyncClient | None = None

    @property
    def capabilities(self) -> frozenset[Operation]:
        return frozenset(self.cls.capabilities)

    def require(self, op: Operation) -> None:
        if op not in self.capabilities:
            why = getattr(self.cls, "unsupported", {}).get(op, "")
            raise UnsupportedOperation(
                f"The {self.name} provider does not support {op.value}. {why}".strip(),
                provider=self.name,
                operation=op.value,
            )

    def download_http(self, config: Config) -> httpx.AsyncClient:
        """The client that fetches this provider's videos (its mounts, its loopback rule)."""
        if self.http is None:
            mounts: dict[str, httpx.AsyncBaseTransport] = {}
            for extra in self.pm.hook.videoprovider_http_mounts():
                mounts.update(extra or {})
            self.http = download_client(
                mounts=mounts,
                timeout=httpx.Timeout(10.0, read=config.core.download_timeout),
                headers={"User-Agent": user_agent()},
                # A provider whose service runs on this machine (an emulator) serves its
                # videos from loopback too.
                allow_loopback=bool(getattr(self.provider, "local_service", False)),
                allow_private=config.core.download_allow_private,
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
    recorder: Recorder,
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
    core = config.core
    policy = AdaptivePolicy(
        typical_seconds=core.poll_typical_seconds
        or float(getattr(provider, "typical_task_seconds", 60.0)),
        lag_ratio=core.poll_lag_ratio,
        min_interval=core.poll_interval,
        max_interval=max(core.poll_interval, core.poll_max_interval),
        jitter=core.poll_jitter,
        rng=rng or random.Random(),
    )
    if recorder.journal is not None:
        # Tasks finished by earlier runs tell how long this provider's models take.
        for model, seconds in recorder.journal.durations(name):
            policy.observe(model, seconds)
    budget = core.poll_budget
    if budget is None:
        budget = getattr(provider, "status_rate_limit", None)
    pm = make_plugin_manager()
    pm.register(provider, name=f"provider:{name}")
    return Backend(
        name=name,
        cls=cls,
        provider=provider,
        settings=resolved,
        sources=sources,
        pm=pm,
        scheduler=PollScheduler(clock, policy, budget),
    )
