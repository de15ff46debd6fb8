"""What the poll scheduler keeps for each wait, and the small rules about statuses it applies."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from .models import Task, TaskStatus

__all__ = ["PUSHED_KEEP", "Fetch", "OnChange", "Tracked", "regresses", "remember"]

PUSHED_KEEP = 100_000  # news of tasks not yet waited on, kept for a later wait

Fetch = Callable[[Task], Awaitable[TaskStatus]]
OnChange = Callable[[TaskStatus, "TaskStatus | None"], Awaitable[None]]


@dataclass(eq=False)
class Tracked:
    """One wait on one task, as the scheduler tracks it."""

    task: Task
    on_change: OnChange
    deadline: float | None
    timeout: float | None
    born: float  # clock.monotonic() when the task was submitted (estimated)
    due: float
    fetch: Fetch
    last: TaskStatus | None = None
    last_poll_age: float = 0.0
    polls: int = 0
    errors: int = 0
    in_flight: bool = False
    result: TaskStatus | None = None
    error: BaseException | None = None
    recheck: bool = False  # said finished while a poll was in flight: poll again at once
    queued: bool = False  # in the scheduler's fetch-first queue
    created: float | None = None  # task.submitted_at as a timestamp, for listing windows
    swept: bool = False  # its end should show in a listing: polled only as a safety net
    look_at: float = 0.0  # when a listing should next cover it (core/sweeps.py)
    done: anyio.Event = field(default_factory=anyio.Event)
    wake: anyio.Event = field(default_factory=anyio.Event)

    @property
    def model(self) -> str | None:
        return self.task.request.model if self.task.request else None


def remember(kept: OrderedDict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
    kept[key] = value
    while len(kept) > PUSHED_KEEP:
        kept.popitem(last=False)


def regresses(last: TaskStatus | None, status: TaskStatus) -> bool:
    return last is not None and last.is_terminal and not status.is_terminal
