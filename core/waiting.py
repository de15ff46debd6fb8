"""The client's waiting side: one task until it ends, or many at once, with their events."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio

from .calls import TaskCalls
from .config import Config
from .errors import VideoProviderError
from .hosts import HostPlugins
from .models import Task, TaskState, TaskStatus
from .outcomes import Outcome, raise_for_ending
from .provider import Operation

__all__ = ["DEFAULT", "OnProgress", "Waiter"]

OnProgress = Callable[[TaskStatus], Awaitable[None] | None]
Fetch = Callable[[Task], Awaitable[TaskStatus]]


class _Default:
    def __repr__(self) -> str:
        return "<configured>"


DEFAULT: Any = _Default()


@dataclass(frozen=True)
class Waiter:
    """Waits for tasks on the poll scheduler of each one's provider.

    Polls go through `calls`, the client's own operations, so every one is priced and
    journaled like any other status; a pushed completion is priced as a polled one is, and
    so is what a status stream brings.
    """

    config: Config
    hosts: HostPlugins
    calls: TaskCalls

    async def wait(
        self,
        task: Task,
        timeout: float | None,
        on_progress: OnProgress | None,
        *,
        announce_success: bool,
        fetch: Fetch | None = None,
    ) -> TaskStatus:
        """Poll until `task` ends; return its COMPLETED status, raise for other endings.

        `announce_success=False` leaves announcing a completion to the caller (which may
        still have a video to save); `fetch` replaces the status call (resume renews leases).
        """
        backend = self.calls.backend(task.provider)
        backend.require(Operation.STATUS)

        async def on_change(status: TaskStatus, previous: TaskStatus | None) -> None:
            await self.hosts.emit(
                "videoprovider_task_updated", task=task, status=status, previous=previous
            )
            if on_progress is not None:
                result = on_progress(status)
                if inspect.isawaitable(result):
                    await result

        wait = partial(
            backend.scheduler.wait,
            task,
            fetch or self.calls.status,
            on_change,
            self.config.core.wait_timeout if timeout is DEFAULT else timeout,
        )
        # A status stream beside the polls (core/watching.py); not for resume, whose polls
        # (`fetch`) renew its leases: a stream would let them lapse.
        watcher = backend.watcher if fetch is None else None
        final = await (watcher.wait(task, wait, self.calls.record) if watcher else wait())
        final = await self.calls.price(task, final)
        if final.state is not TaskState.COMPLETED or announce_success:
            await self.finished(task, final, None)
        raise_for_ending(task, final)
        return final

    async def as_completed(
        self, tasks: list[Task], timeout: float | None, on_progress: OnProgress | None
    ) -> AsyncIterator[Outcome]:
        """Each task's Outcome as soon as it ends; errors are reported, not raised."""
        send, receive = anyio.create_memory_object_stream[Outcome](max_buffer_size=len(tasks))

        async def one(task: Task) -> None:
            try:
                status = await self.wait(task, timeout, on_progress, announce_success=True)
            except VideoProviderError as exc:
                await send.send(Outcome(task=task, error=exc))
            else:
                await send.send(Outcome(task=task, status=status))

        async with anyio.create_task_group() as group, receive:
            for task in tasks:
                group.start_soon(one, task)
            for _ in tasks:
                yield await receive.receive()

    async def finished(self, task: Task, status: TaskStatus, path: str | None) -> None:
        status = await self.calls.price(task, status)
        await self.hosts.emit("videoprovider_task_finished", task=task, status=status, path=path)
