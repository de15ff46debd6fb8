"""Exponential backoff with jitter, shared by `wait` polling and providers' HTTP retries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["MAX_RETRY_AFTER", "Backoff", "cap_retry_after"]

MAX_RETRY_AFTER = 300.0  # seconds: a confused server must not park a client for a day


def cap_retry_after(seconds: float, cap: float = MAX_RETRY_AFTER) -> float:
    """The wait to honour for a server's retry-after of `seconds`: never negative, at most
    `cap`. Every place that obeys a retry-after goes through here."""
    if not seconds > 0:  # also NaN
        return 0.0
    return min(seconds, cap)


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
