"""Exponential backoff with jitter, shared by `wait` polling and providers' HTTP retries."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["MAX_RETRY_AFTER", "Backoff", "cap_retry_after", "retry_after_header"]

MAX_RETRY_AFTER = 300.0  # seconds: a confused server must not park a client for a day


def cap_retry_after(seconds: float, cap: float = MAX_RETRY_AFTER) -> float:
    """The wait to honour for a server's retry-after of `seconds`: never negative, at most
    `cap`. Every place that obeys a retry-after goes through here."""
    if not seconds > 0:  # also NaN
        return 0.0
    return min(seconds, cap)


def retry_after_header(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a reply's headers ask to wait: `retry-after-ms`, else `Retry-After` as seconds
    or as an HTTP date (RFC 9110 10.2.3), counted from `now` (default: the wall clock).
    None when neither is there or readable. Pass a case-insensitive mapping (httpx's)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # `-0000` ("no zone information", RFC 5322 3.3) parses naive; HTTP dates are UTC.
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt `n` (0-based): `floor * multiplier**n`, capped at `ceiling`.

    Jitter multiplies the delay by a factor in `[1 - jitter, 1]` so that many clients started
    together spread out instead of polling in lock-step; it never pushes a delay above the
    ceiling. A server's `retry_after` wins when it asks for longer, up to `max_retry_after`
    (see `cap_retry_after`).
    """

    floor: float = 0.5
    ceiling: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_retry_after: float = MAX_RETRY_AFTER
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling:
            raise ValueError(
                f"backoff needs 0 < floor <= ceiling, got floor={self.floor} ceiling={self.ceiling}"
            )
        if self.multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.ceiling, self.floor * self.multiplier ** max(0, attempt))
        delay = base * self.rng.uniform(1.0 - self.jitter, 1.0)
        if retry_after is not None:
            delay = max(delay, cap_retry_after(retry_after, self.max_retry_after))
        return delay
