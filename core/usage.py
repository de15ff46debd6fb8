"""What a client has asked of its providers, for a host's metrics: the requests its
providers' API clients sent, by kind, how many the services throttled, and the request
budget in use.

A provider's API client (`apiclient.api_client`) counts every request it sends with
`send_bounded` in its context's `RequestCounts`; the kind is the client operation it was sent
for (`submit`, `status`, `url`, `cancel`, `list`, `recover`, `webhook`), which the client
sets around each provider call (`requests_of`). Kinds and provider names are the only
labels: never a task id, a URL or a key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["ProviderUsage", "RequestCounts", "requests_of"]

# The client operation the requests being sent now are for; "other" outside any.
_kind: ContextVar[str] = ContextVar("videoprovider_request_kind", default="other")


@contextmanager
def requests_of(kind: str) -> Iterator[None]:
    """Count the requests sent inside the block as `kind`."""
    token = _kind.set(kind)
    try:
        yield
    finally:
        _kind.reset(token)


@dataclass
class RequestCounts:
    """Requests one provider's API clients sent, by kind, and replies that throttled them
    (HTTP 429); every retry a provider makes is a request of its own."""

    sent: Counter[str] = field(default_factory=Counter)
    throttled: int = 0

    def sending(self) -> None:
        self.sent[_kind.get()] += 1

    def answered(self, status_code: int) -> None:
        if status_code == 429:
            self.throttled += 1


@dataclass(frozen=True)
class ProviderUsage:
    """One provider as a client has used it (`AsyncVideoClient.usage()`)."""

    provider: str
    requests: Mapping[str, int]  # requests sent, by kind, since the client opened
    throttled: int  # replies of HTTP 429 among them
    budget: float | None  # the account's status requests per second (None: no limit)
    in_use: int  # requests counted against the budget now: in flight or returned < 1 s ago
