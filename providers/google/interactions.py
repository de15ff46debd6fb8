"""Gemini Omni video models through the Interactions API: the request body, the task ids,
and an interaction → TaskStatus.

`POST {base}/interactions` with `{"model", "input", "background": true,
"response_modalities": ["video"]}` starts one; `GET {base}/interactions/{id}` reads it; its
`status` is one of queued, in_progress, completed, failed, cancelled, incomplete, ... and a
completed one holds `output_video` (`uri`, or base64 `data`, with `mime_type`), a failed one
`errors[]` (`code`, `message`) [sdk-3.6 `_gaos` interactions types], [omni-peer].
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from videoprovider import errors
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest

from .wire import parse_operation

log = logging.getLogger("videoprovider.google")

# Our task id for an interaction: its id under this prefix, so it can never be taken for
# an operation name (`models/...`) and reaches only the interactions path.
PREFIX = "interactions/"
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
STATES = {
    "queued": TaskState.PENDING,
    "in_progress": TaskState.PROCESSING,
    "completed": TaskState.COMPLETED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELED,
    "incomplete": TaskState.FAILED,
    "budget_exceeded": TaskState.FAILED,
}
_unknown_logged: set[str] = set()


def is_interaction(task_id: str) -> bool:
    return isinstance(task_id, str) and task_id.startswith(PREFIX)


def path(task_id: str, operation: str, provider: str) -> str:
    """`/interactions/<id>`; TaskNotFound, before any request, for an id never issued."""
    interaction = task_id.removeprefix(PREFIX) if is_interaction(task_id) else ""
    if _ID.fullmatch(interaction) is None:
        raise errors.TaskNotFound(
            f"{task_id!r} is not an interaction of the Gemini API ({PREFIX}<id>); "
            "nothing was sent.",
            provider=provider,
            operation=operation,
            task_id=str(task_id),
            hint="Pass the id that submit returned.",
        )
    return f"/interactions/{interaction}"


def request_body(request: VideoRequest, model: str, images: list[dict[str, Any]]) -> dict[str, Any]:
    """A background interaction asking `model` for a video from the prompt and images."""
    content: Any = request.prompt
    if images:
        content = [{"type": "text", "text": request.prompt}] + [
            {"type": "image", "data": i["bytesBase64Encoded"], "mime_type": i["mimeType"]}
            for i in images
        ]
    return {
        "model": model,
        "input": content,
        "background": True,
        "response_modalities": ["video"],
    }


def _interaction(
    response: httpx.Response, operation: str, task_id: str | None, provider: str
) -> dict[str, Any]:
    return parse_operation(response, operation, task_id, provider, _ID, key="id")


def parse_submit(
    response: httpx.Response, request: VideoRequest, submitted_at: datetime, provider: str
) -> Task:
    body = _interaction(response, "submit", None, provider)
    return Task(
        provider=provider, task_id=PREFIX + body["id"], request=request, submitted_at=submitted_at
    )


def parse_status(
    response: httpx.Response,
    task_id: str,
    checked_at: datetime,
    progress: int,
    provider: str,
    keep_inline: Callable[[str, str], str],
) -> TaskStatus:
    """The TaskStatus of the interaction in `response`; `keep_inline(key, base64)` stores an
    inline video and returns the URL it is downloaded from."""
    body = _interaction(response, "status", task_id, provider)
    wire_state = str(body.get("status", ""))
    state = STATES.get(wire_state)
    if state is None:
        state = TaskState.PROCESSING
        if wire_state not in _unknown_logged:
            _unknown_logged.add(wire_state)
            log.warning("unknown interaction status %r; treating it as running", wire_state)
    base: dict[str, Any] = {"provider": provider, "task_id": task_id, "checked_at": checked_at}
    found_video = body.get("output_video")
    video: dict[str, Any] = found_video if isinstance(found_video, dict) else {}
    raw = {**body, "output_video": {k: v for k, v in video.items() if k != "data"}}
    if state is TaskState.COMPLETED:
        url = video.get("uri") if isinstance(video.get("uri"), str) else None
        if url is None and isinstance(video.get("data"), str):
            url = keep_inline(body["id"], video["data"])
        if url:
            return TaskStatus(
                **base, state=state, progress=100, video_url=url, finished_at=checked_at, raw=raw
            )
        state = TaskState.FAILED
        code, message = "NO_VIDEO", "The interaction completed without a video."
    elif state is TaskState.FAILED:
        found = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        code = str(found[0].get("code") or wire_state) if found else wire_state.upper()
        message = (
            str(found[0].get("message") or "") if found else f"The interaction is {wire_state}."
        )
    else:
        progress = progress if state is TaskState.PROCESSING else -1
        return TaskStatus(**base, state=state, progress=progress, raw=raw)
    return TaskStatus(
        **base, state=state, error_code=code, error_message=message, finished_at=checked_at, raw=raw
    )
