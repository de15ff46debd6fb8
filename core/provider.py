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
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from .clock import Clock, SystemClock

__all__ = ["Operation", "Provider", "ProviderContext", "ProviderSettings", "single_attempt"]

# True while the client's poll scheduler calls a status hook. The scheduler retries failed
# polls itself, inside its request budget and honouring retry-after for every task, so a
# provider's own retries would be requests the budget never sees: try once and raise.
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


class ProviderSettings(BaseModel):
    """Base class of a provider's settings: the `[<provider>]` section of the config file.

    Each field can also be set by the environment variable `VIDEOPROVIDER_<PROVIDER>_<FIELD>`
    and by the extra names listed in `env_vars` (for example the provider's own conventional
    variable such as `DASHSCOPE_API_KEY`), tried in order. Declare secrets as
    `pydantic.SecretStr` so they never print.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

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


class Provider(Protocol):
    """The shape the loader expects of a provider class (checked at load time)."""

    capabilities: ClassVar[frozenset[Operation]]
    Settings: ClassVar[type[ProviderSettings]]

    def __init__(self, settings: Any, context: ProviderContext) -> None: ...
