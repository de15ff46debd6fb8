"""What the journal remembers about one generation, from intent to saved file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel, ConfigDict

from ..models import TaskState, VideoRequest

__all__ = ["SPENDING_PHASES", "JournalEntry", "Phase"]


class Phase(str, Enum):
    """Where a journaled generation is, as far as this side of the wire knows."""

    INTENT = "intent"  # recorded just before the submit left; no reply recorded yet
    OUTCOME_UNKNOWN = "outcome_unknown"  # sent, no reply: the task may exist; never resent
    REJECTED = "rejected"  # refused before a task existed
    SUBMITTED = "submitted"  # the provider holds the task; not finished
    FINISHED = "finished"  # a terminal state was seen
    COLLECTED = "collected"  # the video is saved at `path`
    ABANDONED = "abandoned"  # an unknown outcome the user settled as "no task to follow"


# Entries that may have cost money: all but those refused before a task existed and unknown
# outcomes the user settled as having no task. Failed tasks count at their estimate.
SPENDING_PHASES = frozenset(
    {Phase.INTENT, Phase.OUTCOME_UNKNOWN, Phase.SUBMITTED, Phase.FINISHED, Phase.COLLECTED}
)


class JournalEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    provider: str
    task_id: str | None
    phase: Phase
    state: TaskState | None = None
    progress: int | None = None
    request: VideoRequest
    target_path: str | None = None
    path: str | None = None
    error: str | None = None
    video_url_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    currency: str | None = None
    estimate: Decimal | None = None
    actual_cost: Decimal | None = None
    cost_basis: str | None = None

    @property
    def cost(self) -> Decimal | None:
        """The actual cost where the provider reported usage, else the estimate."""
        return self.actual_cost if self.actual_cost is not None else self.estimate

    @property
    def unfinished(self) -> bool:
        """True while resume() has work to do for this entry."""
        if self.phase is Phase.SUBMITTED:
            return True
        return (
            self.phase is Phase.FINISHED
            and self.state is TaskState.COMPLETED
            and self.target_path is not None
        )

    def video_expiry(
        self, now: datetime | None = None, soon: timedelta = timedelta(hours=2)
    ) -> str | None:
        """ "lost" when the provider's video URL has expired uncollected, "soon" when it
        will within `soon`, else None."""
        if self.phase is Phase.COLLECTED or self.video_url_expires_at is None:
            return None
        now = now or datetime.now(timezone.utc)
        if self.video_url_expires_at <= now:
            return "lost"
        return "soon" if self.video_url_expires_at - now <= soon else None
