"""The account's request budget as one client spends it: a sliding one-second window.

A request reaches the server somewhere between its start and its return, so a request
counts against the budget from its start until a second after it returned. Then for any
one-second window at the server, the last request to arrive in it was started while every
other one was in flight or had returned within the second before: however the network
bunches requests up, no window sees over the budget. (Counting starts alone let 1,572
arrive in one second against a budget of 1,200.) Polls and listing pages share it.
"""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ["IDLE_STEP", "RequestWindow"]

IDLE_STEP = 0.5  # longest sleep of the driver, so newly registered tasks start promptly
WINDOW_SLACK = 1e-6  # seconds: float rounding must never let a window hold one poll too many


class RequestWindow:
    """Requests in flight and those returned within the last second, and a pause for all."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.started = 0  # requests started, for benchmarks and tests
        self.paused_until = 0.0
        self.returned = anyio.Event()  # set when a request returns; the driver resets it
        self._returns: deque[float] = deque()

    def begin(self) -> None:
        self.in_flight += 1
        self.started += 1

    def end(self, now: float) -> None:
        self.in_flight -= 1
        self._returns.append(now)
        self.returned.set()

    def pause(self, now: float, seconds: float) -> None:
        """Hold every request (a retry-after: throttling is per account, not per task)."""
        self.paused_until = max(self.paused_until, now + seconds)

    def in_use(self, now: float) -> int:
        """Requests counted against the budget now: in flight, or returned within a second."""
        while self._returns and self._returns[0] < now - 1.0 - WINDOW_SLACK:
            self._returns.popleft()
        return self.in_flight + len(self._returns)

    def free(self, now: float, limit: int | None) -> int:
        """How many more requests may start now under `limit` (None: no limit)."""
        if limit is None:
            return 1 << 30
        return max(0, limit - self.in_use(now))

    def until_free(self, now: float, slots: int = 1) -> float:
        """How long until `slots` more requests fit (one that returns frees a slot sooner,
        and wakes the driver anyway)."""
        if len(self._returns) >= slots:
            wait = self._returns[slots - 1] + 1.0 + 2 * WINDOW_SLACK - now
        elif self._returns:
            wait = self._returns[-1] + 1.0 + 2 * WINDOW_SLACK - now
        else:
            wait = IDLE_STEP
        return min(IDLE_STEP, max(1e-3, wait))
