"""Status streams: a waited task followed on the provider's stream instead of polled.

A provider that declares `status_stream` implements `videoprovider_watch`: one request that
stays open and brings each change of the task (fal's SSE status stream). For each wait the
`Watcher` opens one stream, only while the request budget has room for one more request
(the opening counts in the same window as polls) and fewer than `watch_streams` are open,
and feeds what it brings to the poll scheduler exactly as a push (`PollScheduler.deliver`):
progress reaches the waits and host events, a terminal status the provider vouched for ends
them. While a stream follows a task the scheduler polls it only as a safety net; when the
stream ends or fails before a terminal status, the task is polled at once and then on its
usual schedule, so a broken stream delays nothing and never loses a task.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from .errors import ProtocolError, VideoProviderError
from .models import Task, TaskStatus
from .provider import single_attempt
from .scheduler import PollScheduler

__all__ = ["Watcher"]

log = logging.getLogger("videoprovider.watching")
CLOSE_WITHIN = 5.0  # real seconds a provider's stream may take to close its connection

OpenStream = Callable[[str], "AsyncIterator[TaskStatus] | None"]
# Prices and journals what a stream brings, as the client's status calls do; returns it priced.
Record = Callable[[Task, TaskStatus], Awaitable[TaskStatus]]


class Watcher:
    """One per provider that streams; shared by every wait of the client on it."""

    def __init__(self, scheduler: PollScheduler, open_stream: OpenStream, limit: int) -> None:
        self.scheduler = scheduler
        self.open_stream = open_stream
        self.limit = limit
        self.open = 0  # streams open now
        self.opened = 0  # streams opened, for tests
        self.fell_back = 0  # streams that ended before a terminal status, for tests

    async def wait(
        self,
        task: Task,
        wait: Callable[[], Awaitable[TaskStatus]],
        record: Record,
    ) -> TaskStatus:
        """`wait()` (the scheduler's wait on `task`), with a stream following the task
        beside it when the budget and the cap allow one."""
        key = (task.provider, task.task_id)
        scheduler = self.scheduler
        if self.open >= self.limit or key in scheduler.streamed or not scheduler.begin_request():
            return await wait()
        # Before the wait registers: its first poll is then already a safety-net one.
        scheduler.streamed.add(key)
        self.open += 1
        self.opened += 1
        stream = _Stream(key)
        ended: list[TaskStatus] = []
        failed: list[Exception] = []
        try:
            async with anyio.create_task_group() as group:

                async def waiting() -> None:
                    try:
                        ended.append(await wait())
                    except Exception as exc:  # raised below, outside the task group
                        failed.append(exc)
                    finally:
                        group.cancel_scope.cancel()  # the stream is not needed any more

                # The wait first: it registers before the stream's first status arrives.
                group.start_soon(waiting)
                group.start_soon(self._follow, task, stream, record)
        finally:
            self._close(stream)
        if failed:
            raise failed[0]
        return ended[0]

    async def _follow(self, task: Task, stream: _Stream, record: Record) -> None:
        key = stream.key
        single_attempt.set(True)  # one request opens it; retrying is polling's job
        counted = True
        try:
            statuses = self.open_stream(task.task_id)
            if statuses is not None:
                try:
                    async for status in statuses:
                        if counted:
                            counted = False
                            self.scheduler.end_request()
                        if (status.provider, status.task_id) != key:
                            raise ProtocolError(
                                f"The stream of task {task.task_id} brought a status of "
                                f"{status.provider}:{status.task_id}.",
                                provider=task.provider,
                                operation="watch",
                                task_id=task.task_id,
                            )
                        status = await record(task, status)
                        await self.scheduler.deliver(status)
                        if status.is_terminal:
                            return
                finally:
                    await _close_stream(statuses)
        except VideoProviderError as exc:
            if getattr(exc, "retry_after", None):
                self.scheduler.retry_delay(exc, 1)  # throttled: every poll waits too
            log.info("status stream of %s ended: %s; polling it", task.task_id, exc.message)
        except Exception as exc:  # a broken plugin must not break the wait: poll instead
            log.warning("status stream of %s failed: %r; polling it", task.task_id, exc)
        finally:
            if counted:
                self.scheduler.end_request()
        self.fell_back += 1
        self._close(stream)
        # The stream may have missed the very change that ended it: look now.
        self.scheduler.confirm(*key)

    def _close(self, stream: _Stream) -> None:
        if not stream.closed:
            stream.closed = True
            self.open -= 1
            self.scheduler.streamed.discard(stream.key)


@dataclass
class _Stream:
    key: tuple[str, str]
    closed: bool = False


async def _close_stream(statuses: AsyncIterator[TaskStatus]) -> None:
    # The provider's generator closes its connection in its own `finally`; a wait that
    # ended (cancelling this) must still let it run.
    close = getattr(statuses, "aclose", None)
    if close is not None:
        with anyio.move_on_after(CLOSE_WITHIN, shield=True):
            await close()


def stream_opener(hook: Any) -> OpenStream:
    """The provider's `videoprovider_watch` hook as a function of the task id."""

    def open_stream(task_id: str) -> AsyncIterator[TaskStatus] | None:
        result: AsyncIterator[TaskStatus] | None = hook.videoprovider_watch(task_id=task_id)
        return result

    return open_stream
