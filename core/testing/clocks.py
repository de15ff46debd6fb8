"""Clocks for tests of pushed updates (webhooks, completion events)."""

from __future__ import annotations

import anyio

from ..clock import VirtualClock

__all__ = ["HeldClock"]


class HeldClock(VirtualClock):
    """A virtual clock that moves only when the test says so: sleepers wait for `advance`.

    A plain `VirtualClock` jumps ahead whenever something sleeps, so a client's safety-net
    polls could find a task finished before the delivery under test arrives. Here time
    stands still until the test advances it, and the delivery is what ends the wait.
    """

    def __init__(self) -> None:
        super().__init__()
        self._moved: anyio.Event | None = None

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.monotonic() + max(0.0, seconds)
        while self.monotonic() < deadline:
            self._moved = self._moved or anyio.Event()
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        if self._moved is not None:
            self._moved.set()
            self._moved = None
