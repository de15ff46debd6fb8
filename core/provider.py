"""What a provider plugin is: its capabilities, its settings and what the client gives it.

A provider plugin is a class registered under the `videoprovider.providers` entry point group:

    class MyProvider:
        capabilities = frozenset({Operation.SUBMIT, Operation.STATUS, Operation.URL})
        Settings = MySettings            # a ProviderSettings subclass: its config section

        def __init__(self, settings: MySettings, context: ProviderContext) -> None: ...

        @hookimpl
        async def videoprovider_submit(self, request: VideoRequest) -> Task: ...

`docs/writing-a-provider.md` walks through a complete one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar, Protocol

from pydantic import ConfigDict

from .catalog import ModelInfo
from .clock import Clock, SystemClock
from .prices import Price
from .trust import SettingsModel
from .usage import RequestCounts

__all__ = [
    "Declaration",
    "Operation",
    "Provider",
    "ProviderContext",
    "ProviderSettings",
    "single_attempt",
]

# True while the client's poll scheduler calls a status hook: see the rule in
# `hookspecs.videoprovider_status`. The scheduler retries failed polls itself, inside its
# request budget and honouring retry-after for every task, so a provider's own retries would
# be requests the budget never sees: it tries once and raises.
single_attempt: ContextVar[bool] = ContextVar("videoprovider_single_attempt", default=False)


class Operation(str, Enum):
    """The four operations a provider may offer."""

    SUBMIT = "submit"
    STATUS = "status"
    URL = "url"
    CANCEL = "cancel"

    @property
    def hook_name(self) -> str:
        return f"videoprovider_{self.value}"


class ProviderSettings(SettingsModel):
    """Base class of a provider's settings: the `[<provider>]` section of the config file.

    Each field can also be set by the environment variable `VIDEOPROVIDER_<PROVIDER>_<FIELD>`
    and by the extra names listed in `env_vars` (for example the provider's own conventional
    variable such as `DASHSCOPE_API_KEY`), tried in order.

    Declare secrets as `pydantic.SecretStr` (or mark a field
    `json_schema_extra={"secret": True}`): they never print, a config file holding one warns
    when others can read it, and a working-directory file may never set one. A field that a
    working-directory config file nobody vouched for may set says so with
    `Field(..., json_schema_extra={"untrusted_file": "allow"})`; give it only to harmless
    settings (model names, timeouts, poll tuning), never to credentials, URLs, paths, or
    settings that spend money. Every other field is refused from such a file
    (`videoprovider.trust`, docs/configuration.md).
    """

    # A refused value may be a key: pydantic's own message never repeats what was given.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {}


@dataclass(frozen=True)
class ProviderContext:
    """What the client hands a provider when it builds it."""

    name: str
    clock: Clock = field(default_factory=SystemClock)
    user_agent: str = "videoprovider"
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("videoprovider"))
    # An httpx transport to use instead of the network: tests pass httpx.MockTransport here.
    transport: Any = None
    # Where `apiclient.api_client`'s clients count the requests they send (core/usage.py).
    requests: RequestCounts = field(default_factory=RequestCounts)


class Provider(Protocol):
    """The shape the loader expects of a provider class (checked at load time).

    Only `capabilities` and `Settings` are required; every other attribute the core or the
    CLI reads is optional and listed, with its default, in `Declaration`.
    """

    capabilities: ClassVar[frozenset[Operation]]
    Settings: ClassVar[type[ProviderSettings]]

    def __init__(self, settings: Any, context: ProviderContext) -> None: ...


@dataclass(frozen=True)
class Declaration:
    """Everything the core and the CLI read from a provider class, checked once at load.

    Declare these as class attributes of the provider (all but the first two optional):

    * `capabilities`: the `Operation`s it offers (submit and status at least).
    * `Settings`: its `ProviderSettings` subclass, the `[<name>]` config section.
    * `unsupported`: `{Operation: "why"}` for what it does not offer; the reason is shown
      when such a call is refused (before any request).
    * `typical_task_seconds`: how long a task usually takes; the poll policy's prior until
      it has learned real durations. Default 60.
    * `status_rate_limit`: the service's status queries per second per account, the
      scheduler's default budget; None for no limit. Default None.
    * `models`: the model catalogue, a tuple of `videoprovider.catalog.ModelInfo`.
    * `prices`: what its models cost, a tuple of `videoprovider.prices.Price`, each with
      its source and date; () when the provider publishes none (estimates are then unknown
      unless the user's config file gives prices). Default ().
    * `price_region`: the region whose prices apply to this instance (set per instance from
      where it sends requests); None matches only prices without a region. Default None.
    * `local_service`: True when the service (an emulator) runs on this machine, so the
      download guard lets its own loopback URLs through. A provider may set it per instance
      (from its base URL). Default False.
    * `pushes_updates`: True when the service will push task updates to the host (webhooks
      configured, per instance): the client then polls only as a slow safety net.
      Default False.
    * `recoverable_submits`: the `VideoRequest.extra` key under which the service takes a
      task id the client chooses (Kling's `external_task_id`), or None. When set, the client
      puts a fresh id there (unless the request has one) before it journals the submit, and
      the provider implements `videoprovider_recover_submit`: a submit whose reply was lost
      is then found again by that id (`tasks resume`, `tasks reconcile`), never guessed at.
      Default None.
    * `status_stream`: True when the provider follows a task on the service's status
      stream (implements `videoprovider_watch`): a waited task's statuses then come from
      one stream instead of repeated polls, within the request budget, with polling as the
      fallback (core/watching.py). Default False.
    * `notice_interval`: seconds within which notices (`WebhookDelivery.notice`) for one
      task prompt at most one status request (core/notices.py); later ones in the
      interval are answered as replays. Default 30.
    """

    capabilities: frozenset[Operation]
    Settings: type[ProviderSettings]
    unsupported: Mapping[Operation, str] = field(default_factory=dict)
    typical_task_seconds: float = 60.0
    status_rate_limit: float | None = None
    models: tuple[ModelInfo, ...] = ()
    prices: tuple[Price, ...] = ()
    price_region: str | None = None
    local_service: bool = False
    pushes_updates: bool = False
    recoverable_submits: str | None = None
    status_stream: bool = False
    notice_interval: float = 30.0

    @classmethod
    def of(cls, provider: object, name: str = "?") -> Declaration:
        """Read and check the declaration of a provider class (or instance).

        A wrong type or value raises ConfigurationError naming the provider and attribute.
        """
        from .errors import ConfigurationError

        values: dict[str, Any] = {}
        for spec in fields(cls):
            found = _declared(provider, spec.name)
            if found is not _MISSING:
                values[spec.name] = found
        where = f"Provider plugin {name!r}"
        for required in ("capabilities", "Settings"):
            if required not in values:
                raise ConfigurationError(f"{where} must declare `{required}`.")
        problem = _check(values)
        if problem:
            attr, why = problem
            raise ConfigurationError(
                f"{where} declares `{attr}` wrongly: {why}.",
                hint="See videoprovider.provider.Declaration for every attribute.",
            )
        values["capabilities"] = frozenset(values["capabilities"])
        values["models"] = tuple(values.get("models", ()))
        values["prices"] = tuple(values.get("prices", ()))
        values["unsupported"] = dict(values.get("unsupported", {}))
        return cls(**values)


_MISSING = object()


def _declared(provider: object, name: str) -> Any:
    # Instance first (a provider may decide `local_service` from its settings), then the
    # class and its bases: what was written in a class body, never a computed attribute.
    cls = provider if isinstance(provider, type) else type(provider)
    owners = ([] if provider is cls else [provider]) + list(cls.__mro__)
    for owner in owners:
        try:
            namespace = vars(owner)
        except TypeError:  # an instance with __slots__
            continue
        if name in namespace:
            return namespace[name]
    return _MISSING


def _check(values: dict[str, Any]) -> tuple[str, str] | None:
    caps = values["capabilities"]
    if not isinstance(caps, (set, frozenset)) or not all(isinstance(c, Operation) for c in caps):
        return "capabilities", "it must be a frozenset of videoprovider.Operation"
    settings = values["Settings"]
    if not (isinstance(settings, type) and issubclass(settings, ProviderSettings)):
        return "Settings", "it must be a subclass of videoprovider.plugin.ProviderSettings"
    unsupported = values.get("unsupported", {})
    if not isinstance(unsupported, Mapping) or not all(
        isinstance(k, Operation) and isinstance(v, str) for k, v in unsupported.items()
    ):
        return "unsupported", "it must map videoprovider.Operation to a reason (str)"
    if any(op in caps for op in unsupported):
        return "unsupported", "it names an operation that `capabilities` offers"
    typical = values.get("typical_task_seconds", 60.0)
    if isinstance(typical, bool) or not isinstance(typical, (int, float)) or typical <= 0:
        return "typical_task_seconds", f"{typical!r} is not a positive number of seconds"
    interval = values.get("notice_interval", 30.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
        return "notice_interval", f"{interval!r} is not a number of seconds (0 or more)"
    limit = values.get("status_rate_limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0
    ):
        return "status_rate_limit", f"{limit!r} is not None or a positive rate per second"
    models = values.get("models", ())
    if not isinstance(models, (tuple, list)) or not all(isinstance(m, ModelInfo) for m in models):
        return "models", "it must be a tuple of videoprovider.catalog.ModelInfo"
    prices = values.get("prices", ())
    if not isinstance(prices, (tuple, list)) or not all(isinstance(p, Price) for p in prices):
        return "prices", "it must be a tuple of videoprovider.prices.Price"
    region = values.get("price_region")
    if region is not None and not isinstance(region, str):
        return "price_region", "it must be a region name (str) or None"
    key = values.get("recoverable_submits")
    if key is not None and (not isinstance(key, str) or not key.isidentifier()):
        return "recoverable_submits", "it must be None or the name of a VideoRequest.extra key"
    for flag in ("local_service", "pushes_updates", "status_stream"):
        if not isinstance(values.get(flag, False), bool):
            return flag, "it must be True or False"
    return None
