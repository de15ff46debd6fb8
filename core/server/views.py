"""A stored video as OpenAI's video object (wire.py), for the routes and the callbacks."""

from __future__ import annotations

from .store import VideoRow
from .wire import Video, VideoCost, VideoError

__all__ = ["to_wire"]


def to_wire(row: VideoRow) -> Video:
    status = "queued" if row.status == "submitting" else row.status
    error = None
    if row.status == "failed":
        error = VideoError(code=row.error_code or "failed", message=row.error_message or "")
    cost = None
    if row.cost_currency:
        cost = VideoCost(
            currency=row.cost_currency, estimate=row.cost_estimate, actual=row.cost_actual
        )
    return Video(
        id=row.id,
        status=status,  # type: ignore[arg-type]
        progress=row.progress,
        created_at=row.created_ms // 1000,
        completed_at=None if row.completed_ms is None else row.completed_ms // 1000,
        expires_at=None if row.expires_ms is None else row.expires_ms // 1000,
        error=error,
        model=row.model,
        seconds=row.seconds,
        size=row.size,
        prompt=row.prompt,
        cancelled=bool(row.cancelled),
        task=None if row.task_id is None else f"{row.provider}:{row.task_id}",
        cost=cost,
    )
