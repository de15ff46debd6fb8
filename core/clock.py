"""Time as a dependency: everything that waits takes a `Clock`, so tests never sleep for real."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "SystemClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds for intervals, wall time for timestamps, and a way to wait."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime:
        """The current wall time, timezone-aware (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that only moves when something sleeps on it or `advance` is called.

    `sleep(s)` lets whatever else is ready run, moves time forward by `s` at once and yields
    again, so a wait that would take an hour of provider time finishes in microseconds.
    `sleeps` records every requested sleep so tests can assert the polling schedule.
    """

    EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or self.EPOCH
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        # Let everything that is ready at this instant run before time moves on, as it
        # would on a real clock.
        await anyio.sleep(0)
        self._elapsed += seconds
        await anyio.sleep(0)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now().isoformat()})"
