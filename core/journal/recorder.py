"""The client's side of journaling: every write a generation makes, or nothing when off."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import SubmitOutcomeUnknown
from ..models import Estimate, Task, TaskStatus, VideoRequest
from .entry import Phase
from .store import Journal, SpendCheck, worker_id

log = logging.getLogger("videoprovider.journal")


class Recorder:
    """Writes to `journal` for one client; a no-op when `journal` is None."""

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self.owner = worker_id()
        self._seen: dict[tuple[str, str], tuple[str, int]] = {}
        # Set by the client: prices a completion, so pushed ones are recorded with their cost.
        self.price: Callable[[Task, TaskStatus], TaskStatus] | None = None

    def intent(
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
        return self.journal.intent(
            provider, request, target, self.owner, estimate=estimate, within=within
        )

    def submitted(self, entry: str | None, task: Task) -> None:
        if self.journal is not None and entry is not None:
            self.journal.submitted(entry, task)

    def submit_failed(self, entry: str | None, error: BaseException) -> None:
        if self.journal is None or entry is None:
            return
        # Anything but a clear refusal leaves the outcome open: the request may have landed.
        refused = not isinstance(error, SubmitOutcomeUnknown) and isinstance(error, Exception)
        phase = Phase.REJECTED if refused else Phase.OUTCOME_UNKNOWN
        self.journal.submit_failed(entry, phase, f"{type(error).__name__}: {error}")

    def status(self, status: TaskStatus) -> None:
        """Record a status when it differs from the last one this client recorded."""
        if self.journal is None:
            return
        if self.price is not None:
            status = self.price(Task(provider=status.provider, task_id=status.task_id), status)
        key, seen = (status.provider, status.task_id), (status.state.value, status.progress)
        if self._seen.get(key) != seen:
            self.journal.status(status)
            self._seen[key] = seen

    def knows(self, provider: str, task_id: str) -> bool | None:
        """Whether the journal has an entry for the task (None: no journal to ask)."""
        if self.journal is None:
            return None
        entry = self.journal.get(task_id)
        return entry is not None and entry.provider == provider

    def collected(self, provider: str, task_id: str, path: str) -> None:
        if self.journal is not None:
            self.journal.collected(provider, task_id, path)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
