"""The client's task operations as its helpers call them: every status priced and journaled.

Waiting (`waiting.py`), saving videos (`collector.py`), pushed updates (`webhooks.py`) and
resuming (`resume.py`) all depend on this one object, the same one the client's public
`status` and `url` go through, so what any of them learns is recorded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backend import Backend, Backends
from .journal.recorder import Recorder
from .models import Task, TaskState, TaskStatus
from .pricing import Pricing
from .provider import Operation

__all__ = ["TaskCalls"]


@dataclass(frozen=True)
class TaskCalls:
    """One client's providers (`backends`), prices and journal (`recorder`)."""

    backends: Backends
    pricing: Pricing
    recorder: Recorder

    def backend(self, provider: str) -> Backend:
        return self.backends.get(provider)

    async def status(self, task: Task) -> TaskStatus:
        """Ask the task's provider for its status; price and journal the answer."""
        status = await self.backends.call(Operation.STATUS, TaskStatus, task, task_id=task.task_id)
        return await self.record(task, status)

    async def url(self, task: Task) -> str:
        """The download URL of a completed task's video."""
        return await self.backends.call(Operation.URL, str, task, task_id=task.task_id)

    async def record(self, task: Task, status: TaskStatus) -> TaskStatus:
        """Journal `status` (an answer or a pushed update) with its cost; return it priced."""
        status = await self.price(task, status)
        await self.recorder.status(status)
        return status

    async def price(self, task: Task, status: TaskStatus) -> TaskStatus:
        """`status` with its cost when it is a completion (see `Pricing.settle`); the request
        of a bare task id is read from its journal entry."""
        if status.cost is not None or status.state is not TaskState.COMPLETED:
            return status
        if task.request is None:
            entry = await self.recorder.entry(task)
            if entry is not None:
                task = task.model_copy(update={"request": entry.request})
        return self.pricing.settle(task, status)
