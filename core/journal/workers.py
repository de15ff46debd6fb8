"""One request budget per account, however many workers share the journal.

Each worker that polls heartbeats a row in the journal's database; its share of the account's
status-request budget is the budget divided by the workers that heartbeated recently. A
newcomer that finds others polls nothing until every one of them has had time to see it and
the requests they made on a bigger share have left the one-second window, so the sum of
the shares holds at the server while workers come and go. See docs/journal.md ("Sharing
the request budget").
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio.to_thread
from pydantic import SecretStr

from ..clock import Clock
from .store import Journal

__all__ = ["AccountShare", "account_key"]

TABLE = "videoprovider_workers"
SCHEMA = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    worker VARCHAR(200) PRIMARY KEY, account VARCHAR(200) NOT NULL,
    joined_ms BIGINT NOT NULL, heartbeat_ms BIGINT NOT NULL)"""
HEARTBEAT = 2.0  # seconds between a worker's heartbeats (and recounts) while it polls
LIVE_WINDOW = 3 * HEARTBEAT  # a worker silent this long is gone (dead, or idle)
# A newcomer waits until every live worker has recounted (one heartbeat) and the requests
# made on their bigger share have left the server's one-second window, with some slack.
WARM_UP = HEARTBEAT + 1.5


def account_key(provider: str, settings: Any) -> str:
    """The provider name and a short hash of its secret settings (the credentials): workers
    with the same key share one budget. The hash cannot give a key back; nothing prints it
    whole."""
    fields: Mapping[str, Any] = getattr(type(settings), "model_fields", {})
    secrets = [
        f"{name}={value.get_secret_value()}"
        for name in sorted(fields)
        if isinstance(value := getattr(settings, name, None), SecretStr)
    ]
    if not secrets:
        return provider
    return f"{provider}:{hashlib.sha256(chr(0).join(secrets).encode()).hexdigest()[:12]}"


class AccountShare:
    """This worker's share of an account budget, as the scheduler reads it (`share(budget)` on
    every look, no I/O); `await refresh()`, which the scheduler's drive loop calls, heartbeats
    and recounts the live workers at most every HEARTBEAT s, in a worker thread: on
    PostgreSQL each beat is a few round trips, and a locked SQLite journal holds it for up
    to its busy timeout, which must not stall every other wait on the loop."""

    def __init__(
        self,
        journal: Journal,
        account: str,
        worker: str,
        clock: Clock,
        offload: Callable[[Callable[[], None]], Awaitable[None]] | None = None,
    ) -> None:
        self.journal = journal
        self.account = account
        self.worker = worker
        self.clock = clock
        self._offload = offload or anyio.to_thread.run_sync
        self._next_beat = -math.inf
        self._live = 1
        self._ready_at = math.inf  # monotonic time from which this worker may poll
        self._created = False

    def __call__(self, budget: float) -> float:
        if self.clock.monotonic() < self._ready_at:
            return 0.0
        return budget / self._live

    async def refresh(self) -> None:
        if self.clock.monotonic() >= self._next_beat:
            await self._offload(self.beat)

    def beat(self) -> None:
        """Heartbeat and recount now if due (blocking: `refresh` runs it off the loop)."""
        now = self.clock.monotonic()
        if now >= self._next_beat:
            self._beat(now)

    def _beat(self, now: float) -> None:
        if not self._created:
            with self.journal._creating():
                self.journal._run(SCHEMA)
            self._created = True
        wall = int(self.clock.now().timestamp() * 1000)
        params = {"worker": self.worker, "account": self.account, "now": wall}
        renewed = self._ready_at < math.inf and self.journal._run(
            f"UPDATE {TABLE} SET heartbeat_ms = :now WHERE worker = :worker "
            "AND heartbeat_ms >= :since",
            {**params, "since": wall - int(LIVE_WINDOW * 1000)},
        )
        if not renewed:
            # New, or silent so long that the others stopped counting us: join afresh.
            self.journal._run(f"DELETE FROM {TABLE} WHERE worker = :worker", params)
            self.journal._run(
                f"INSERT INTO {TABLE} (worker, account, joined_ms, heartbeat_ms) "
                "VALUES (:worker, :account, :now, :now)",
                params,
            )
        rows = self.journal._query(
            f"SELECT COUNT(*) FROM {TABLE} WHERE account = :account AND heartbeat_ms >= :since",
            {"account": self.account, "since": wall - int(LIVE_WINDOW * 1000)},
        )
        self._live = max(1, int(rows[0][0]))
        if not renewed:
            # Alone after joining, nobody spends a share to give up: start at once. Any
            # worker joining after us counts us, so it is the one that waits.
            self._ready_at = now if self._live == 1 else now + WARM_UP
        self._next_beat = now + HEARTBEAT

    def leave(self) -> None:
        """Give this worker's share back (the others take it at their next recount)."""
        if self._created:
            self.journal._run(
                f"DELETE FROM {TABLE} WHERE worker = :worker", {"worker": self.worker}
            )
            self._next_beat = -math.inf
            self._ready_at = math.inf
