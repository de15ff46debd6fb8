"""The client's side of journaling: every write a generation makes, off the event loop.

The journal is synchronous (sqlite3, SQLAlchemy's blocking engine) and a call can wait: 30 s
on a locked SQLite file, a network round trip on PostgreSQL. So every call the async client
makes runs in a worker thread, at most `journal.threads` at once per journal (a limiter of
its own: a stuck journal cannot take the threads other work runs on). The event loop, and
every other wait, sweep and webhook on it, goes on meanwhile. Each call is still one of
the journal's own transactions, unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

from ..errors import SubmitOutcomeUnknown
from ..models import Estimate, Task, TaskStatus, VideoRequest
from .entry import JournalEntry, Phase
from .store import Journal, SpendCheck, worker_id

log = logging.getLogger("videoprovider.journal")

P = ParamSpec("P")
T = TypeVar("T")

# Open tasks whose last recorded status a client remembers, to skip rewriting it unchanged.
# Ended tasks are forgotten at once; past this many open ones, the longest unseen go first.
SEEN = 10_000


class Recorder:
    """Writes to `journal` for one client, from async code; a no-op when `journal` is None."""

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self.owner = worker_id()
        self._seen: OrderedDict[tuple[str, str], tuple[str, int | None]] = OrderedDict()
        # Made on first use, on the loop that uses it (anyio binds it there).
        self._limiter = anyio.CapacityLimiter(journal.threads if journal else 1)

    async def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call(*args, **kwargs)` (a journal method, or steps of several) in a worker thread.

        Not abandoned when cancelled: a write under way finishes (or rolls back) first.
        """
        return await anyio.to_thread.run_sync(
            functools.partial(call, *args, **kwargs), limiter=self._limiter
        )

    async def intent(
        self,
        provider: str,
        request: VideoRequest,
        target: str | None,
        *,
        estimate: Estimate | None = None,
        within: SpendCheck | None = None,
    ) -> str | None:
        # Written before the submit leaves, and allowed to fail loudly: a submit that could
        # not be journaled would be a task nobody can find again after a crash.
        if self.journal is None:
            return None
        return await self.run(
            self.journal.intent,
            provider,
            request,
            target,
            self.owner,
            estimate=estimate,
            within=within,
        )

    async def submitted(self, entry: str | None, task: Task) -> None:
        if self.journal is not None and entry is not None:
            await self.run(self.journal.submitted, entry, task)

    async def submit_failed(self, entry: str | None, error: BaseException) -> None:
        if self.journal is None or entry is None:
            return
        # Anything but a clear refusal leaves the outcome open: the request may have landed.
        refused = not isinstance(error, SubmitOutcomeUnknown) and isinstance(error, Exception)
        phase = Phase.REJECTED if refused else Phase.OUTCOME_UNKNOWN
        await self.run(self.journal.submit_failed, entry, phase, f"{type(error).__name__}: {error}")

    async def status(self, status: TaskStatus) -> None:
        """Record a status when it differs from the last one this client recorded."""
        if self.journal is None:
            return
        key, seen = (status.provider, status.task_id), (status.state.value, status.progress)
        if self._seen.get(key) == seen:
            self._seen.move_to_end(key)
            return
        await self.run(self.journal.status, status)
        if status.is_terminal:
            self._seen.pop(key, None)
            return
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > SEEN:
            self._seen.popitem(last=False)

    async def entry(self, task: Task) -> JournalEntry | None:
        """The journal's entry for `task` (None: none, or no journal)."""
        if self.journal is None:
            return None
        return await self.run(self.journal.task, task.provider, task.task_id)

    async def knows(self, provider: str, task_id: str) -> bool | None:
        """Whether the journal has an entry for the task (None: no journal to ask)."""
        if self.journal is None:
            return None
        return await self.entry(Task(provider=provider, task_id=task_id)) is not None

    async def collected(self, provider: str, task_id: str, path: str) -> None:
        if self.journal is not None:
            await self.run(self.journal.collected, provider, task_id, path)

    async def close(self) -> None:
        # Through the limiter, so it waits for a call still under way in its thread.
        if self.journal is not None:
            await self.run(self.journal.close)
