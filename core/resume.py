"""Picking up unfinished journaled tasks: lease each one, wait for all at once, collect.

A worker leases an entry before polling it and renews the lease on every poll, so workers
sharing one journal (processes, or machines on PostgreSQL) never poll the same task at the
same time; a dead worker's lease runs out (or, on the same host, ends with its process) and
another worker takes the task over. The journal only stores entries and leases; the client
hands `Resumer` the operations it drives.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from .errors import VideoProviderError
from .journal.entry import JournalEntry
from .journal.recorder import Recorder
from .models import Task, TaskState, TaskStatus

__all__ = ["Resumed", "Resumer", "lease_ttl"]

log = logging.getLogger("videoprovider.journal")

Fetch = Callable[[Task], Awaitable[TaskStatus]]


@dataclass(frozen=True)
class Resumed:
    """What resume() did with one journal entry."""

    entry_id: str
    task_id: str
    status: TaskStatus | None = None
    path: str | None = None
    error: VideoProviderError | None = None
    skipped: str | None = None  # why not (another worker holds it)
    provider: str | None = None

    @property
    def ref(self) -> str:
        """`"<provider>:<task_id>"`, as `Task.ref`; the bare id when the provider is unknown."""
        return f"{self.provider}:{self.task_id}" if self.provider else self.task_id


class _LeaseLost(Exception):
    pass


def lease_ttl(poll_max_interval: float) -> float:
    """Long enough to outlast the longest gap between two polls (which renew the lease)."""
    return max(60.0, 4 * poll_max_interval)


@dataclass(frozen=True)
class Resumer:
    """Resumes one provider's unfinished entries with the client operations it is given.

    `wait(task, fetch)` waits for a task polling through `fetch` and raises for failed
    endings; `download(task, target, final)` saves a completed task's video; `finished`
    announces the ending to host plugins.
    """

    recorder: Recorder
    provider: str
    status: Fetch
    wait: Callable[[Task, Fetch], Awaitable[TaskStatus]]
    download: Callable[[Task, str, TaskStatus], Awaitable[str]]
    finished: Callable[[Task, TaskStatus, str | None], Awaitable[None]]
    ttl: float

    async def run(self, limit: int | None) -> list[Resumed]:
        journal = self.recorder.journal
        assert journal is not None
        results: list[Resumed] = []
        mine: list[JournalEntry] = []
        for entry in await self.recorder.run(journal.unfinished):
            if entry.provider != self.provider or (limit is not None and len(mine) >= limit):
                continue
            if await self.recorder.run(journal.acquire, entry.id, self.recorder.owner, self.ttl):
                mine.append(entry)
            else:
                results.append(
                    Resumed(
                        entry.id,
                        entry.task_id or "",
                        skipped="leased by another worker",
                        provider=entry.provider,
                    )
                )

        async def one(entry: JournalEntry) -> None:
            results.append(await self._one(entry))

        async with anyio.create_task_group() as group:
            for entry in mine:
                group.start_soon(one, entry)
        return results

    async def _one(self, entry: JournalEntry) -> Resumed:
        journal, owner = self.recorder.journal, self.recorder.owner
        assert journal is not None and entry.task_id is not None
        task = Task(provider=entry.provider, task_id=entry.task_id, request=entry.request)

        async def fetch(task: Task) -> TaskStatus:
            # Renewed before every poll: a worker that lost its lease stops polling at once.
            if not await self.recorder.run(journal.acquire, entry.id, owner, self.ttl):
                raise _LeaseLost
            return await self.status(task)

        try:
            final = await self.wait(task, fetch)
            path = None
            if final.state is TaskState.COMPLETED and entry.target_path:
                path = await self._collect(task, final, entry.target_path)
            await self.finished(task, final, path)
            return Resumed(entry.id, entry.task_id, status=final, path=path, provider=task.provider)
        except _LeaseLost:
            why = "lease taken over by another worker"
            return Resumed(entry.id, entry.task_id, skipped=why, provider=task.provider)
        except VideoProviderError as exc:
            log.warning("resuming task %s: %s", entry.task_id, exc)
            return Resumed(entry.id, entry.task_id, error=exc, provider=task.provider)
        finally:
            # Even when cancelled (Ctrl-C): another worker may take the task at once.
            with anyio.CancelScope(shield=True):
                await self.recorder.run(journal.release, entry.id, owner)

    async def _collect(self, task: Task, final: TaskStatus, target: str) -> str:
        if Path(target).is_file():
            # submit(target=) and generate() refuse to start if the target file exists, so a
            # file there now is this task's video, renamed into place just before the
            # previous process died. (A target that is a folder says nothing: the video is
            # saved inside it.)
            await self.recorder.collected(task.provider, task.task_id, target)
            return target
        return await self.download(task, target, final)
