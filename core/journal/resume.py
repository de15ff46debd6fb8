"""Picking up unfinished journaled tasks: lease each one, wait for all at once, collect.

A worker leases an entry before polling it and renews the lease on every poll, so workers
sharing one journal (processes, or machines on PostgreSQL) never poll the same task at the
same time; a dead worker's lease runs out (or, on the same host, ends with its process) and
another worker takes the task over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import VideoProviderError
from ..models import Task, TaskState, TaskStatus
from .entry import JournalEntry

if TYPE_CHECKING:
    from ..client import AsyncVideoClient, OnProgress

log = logging.getLogger("videoprovider.journal")


@dataclass(frozen=True)
class Resumed:
    """What resume() did with one journal entry."""

    entry_id: str
    task_id: str
    status: TaskStatus | None = None
    path: str | None = None
    error: VideoProviderError | None = None
    skipped: str | None = None  # why not (another worker holds it)


class _LeaseLost(Exception):
    pass


async def resume(
    client: AsyncVideoClient,
    *,
    timeout: float | None,
    lease_ttl: float,
    on_progress: OnProgress | None,
    limit: int | None,
) -> list[Resumed]:
    recorder = client._journal
    journal = recorder.journal
    assert journal is not None
    results: list[Resumed] = []
    mine: list[JournalEntry] = []
    for entry in journal.unfinished():
        if entry.provider != client.provider_name or (limit is not None and len(mine) >= limit):
            continue
        if journal.acquire(entry.id, recorder.owner, lease_ttl):
            mine.append(entry)
        else:
            results.append(
                Resumed(entry.id, entry.task_id or "", skipped="leased by another worker")
            )

    async def one(entry: JournalEntry) -> None:
        results.append(await _resume_one(client, entry, timeout, lease_ttl, on_progress))

    async with anyio.create_task_group() as group:
        for entry in mine:
            group.start_soon(one, entry)
    return results


async def _resume_one(
    client: AsyncVideoClient,
    entry: JournalEntry,
    timeout: float | None,
    lease_ttl: float,
    on_progress: OnProgress | None,
) -> Resumed:
    recorder = client._journal
    journal, owner = recorder.journal, recorder.owner
    assert journal is not None and entry.task_id is not None
    task = Task(provider=entry.provider, task_id=entry.task_id, request=entry.request)

    async def fetch(task: Task) -> TaskStatus:
        # Renewed before every poll: a worker that lost its lease stops polling at once.
        if not journal.acquire(entry.id, owner, lease_ttl):
            raise _LeaseLost
        return await client.status(task)

    try:
        final = await client._wait(task, timeout, on_progress, announce_success=False, fetch=fetch)
        path = None
        if final.state is TaskState.COMPLETED and entry.target_path:
            path = await _collect(client, task, final, entry.target_path)
        await client._emit("videoprovider_task_finished", task=task, status=final, path=path)
        return Resumed(entry.id, entry.task_id, status=final, path=path)
    except _LeaseLost:
        return Resumed(entry.id, entry.task_id, skipped="lease taken over by another worker")
    except VideoProviderError as exc:
        log.warning("resuming task %s: %s", entry.task_id, exc)
        return Resumed(entry.id, entry.task_id, error=exc)
    finally:
        journal.release(entry.id, owner)


async def _collect(client: AsyncVideoClient, task: Task, final: TaskStatus, target: str) -> str:
    if Path(target).is_file():
        # generate() refused to start if the target file existed, so a file there now is
        # this task's video, renamed into place just before the previous process died. (A
        # target that is a folder says nothing: the video is saved inside it.)
        client._journal.collected(task.provider, task.task_id, target)
        return target
    saved, _ = await client._download(task, target, overwrite=False, on_bytes=None, status=final)
    return str(saved)


def lease_ttl_for(client: AsyncVideoClient) -> float:
    """Long enough to outlast the longest gap between two polls (which renew the lease)."""
    core: Any = client.config.core
    return max(60.0, 4 * float(core.poll_max_interval))
