"""How a task ended, as the client reports it: an `Outcome`, or the error for its ending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import TaskCanceled, TaskFailed, TaskNotFound, VideoProviderError
from .models import Task, TaskState, TaskStatus

__all__ = ["Outcome", "raise_for_ending"]


@dataclass(frozen=True)
class Outcome:
    """How one of many waited-for tasks ended: its final status, or the error it ended with."""

    task: Task
    status: TaskStatus | None = None
    error: VideoProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def raise_for_ending(task: Task, status: TaskStatus) -> None:
    """Raise TaskFailed, TaskCanceled or TaskNotFound for those endings; else return."""
    where: dict[str, Any] = {
        "provider": task.provider,
        "task_id": task.task_id,
        "request_id": status.request_id,
    }
    if status.state is TaskState.FAILED:
        detail = ": ".join(x for x in (status.error_code, status.error_message) if x)
        raise TaskFailed(
            f"Task {task.task_id} failed" + (f" ({detail})." if detail else "."),
            task=task,
            status=status,
            code=status.error_code,
            hint="Adjust the request and submit again; the provider's message says why.",
            **where,
        )
    if status.state is TaskState.CANCELED:
        raise TaskCanceled(f"Task {task.task_id} was canceled.", task=task, status=status, **where)
    if status.state is TaskState.UNKNOWN:
        raise TaskNotFound(
            f"The {task.provider} provider does not know task {task.task_id}.", **where
        )
