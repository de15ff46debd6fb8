"""fal's queue JSON → videoprovider models and errors, and the paths the key may travel to.

Facts and their sources are listed in docs/providers/fal.md. A task id is
`<owner>/<app>:<request_id>`: status, result and cancel live under the endpoint's owner/app
only, never its sub-path [queue], so the id carries what those URLs need and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from videoprovider import errors
from videoprovider.models import TaskState, TaskStatus

log = logging.getLogger("videoprovider.fal")

PROVIDER = "fal"
# Namespaced apps take one more leading segment (fal-client `APP_NAMESPACES`).
NAMESPACES = ("workflows", "comfy")
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_ENDPOINT = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{1,7}}")
_APP = re.compile(rf"(?:(?:{'|'.join(NAMESPACES)})/)?{_SEGMENT}/{_SEGMENT}")
_REQUEST_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{7,63}")
_VIDEO_KEYS = ("video", "videos", "video_url", "url", "file", "output")


@dataclass(frozen=True)
class Endpoint:
    """An endpoint id, e.g. `fal-ai/kling-video/v2.1/master/text-to-video`."""

    id: str

    @property
    def app(self) -> str:
        """The owner/app (with its namespace) that status, result and cancel URLs use."""
        parts = self.id.split("/")
        keep = 3 if parts[0] in NAMESPACES else 2
        return "/".join(parts[:keep])


def parse_endpoint(value: str, operation: str = "submit") -> Endpoint:
    """The endpoint in `value`, or RequestRejected naming the accepted form."""
    text = value.strip().strip("/")
    parts = text.split("/")
    if (
        not _ENDPOINT.fullmatch(text)
        or any(p in (".", "..") for p in parts)
        or (parts[0] in NAMESPACES and len(parts) < 3)
    ):
        raise errors.RequestRejected(
            f"{value!r} is not a fal endpoint id: use owner/app[/path], such as "
            "fal-ai/kling-video/v2.1/master/text-to-video.",
            field="model",
            provider=PROVIDER,
            operation=operation,
        )
    return Endpoint(text)


@dataclass(frozen=True)
class TaskRef:
    app: str
    request_id: str

    def __str__(self) -> str:
        return f"{self.app}:{self.request_id}"

    def path(self, suffix: str = "") -> str:
        app = "/".join(quote(p, safe="") for p in self.app.split("/"))
        return f"/{app}/requests/{quote(self.request_id, safe='')}{suffix}"


def task_ref(task_id: str, operation: str) -> TaskRef:
    """The task `task_id` names; TaskNotFound, before any request, for anything else."""
    app, _, request_id = task_id.rpartition(":") if isinstance(task_id, str) else ("", "", "")
    if not (_APP.fullmatch(app) and _REQUEST_ID.fullmatch(request_id)) or ".." in app.split("/"):
        raise errors.TaskNotFound(
            f"{task_id!r} is not a fal task id (owner/app:request_id, as in "
            "'fal-ai/kling-video:764cabcf-b745-4b3e-ae38-1200304cf45b'); nothing was sent.",
            provider=PROVIDER,
            operation=operation,
            task_id=str(task_id),
            hint="Pass the id that submit returned.",
        )
    return TaskRef(app, request_id)


def excerpt(text: str, limit: int = 200) -> str:
    cleaned = " ".join(text.split())
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")


def retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def json_body(response: httpx.Response, operation: str, task_id: str | None = None) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.ProtocolError(
            f"fal answered HTTP {response.status_code} with something that is not JSON: "
            f"{excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        ) from None


def event_json(data: str, task_id: str) -> Any:
    """The status object a status-stream event carries [status-stream]."""
    try:
        return json.loads(data)
    except ValueError:
        raise errors.ProtocolError(
            f"fal's status stream sent an event that is not JSON: {excerpt(data)!r}.",
            provider=PROVIDER,
            operation="watch",
            task_id=task_id,
        ) from None


async def stream_error(response: httpx.Response, task_id: str) -> errors.VideoProviderError:
    """The error for a status stream refused with a non-200 reply (read within a limit)."""
    from videoprovider.apiclient import read_bounded

    body = await read_bounded(response, 64 * 1024)
    reply = httpx.Response(response.status_code, headers=response.headers, content=body)
    return error_for(reply, "watch", task_id)


def detail_of(body: Any, fallback: str = "no detail") -> str:
    """fal's `detail`: a message, or FastAPI's list of {loc, msg, type} [errors]."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        said = []
        for item in detail[:5]:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                said.append(f"{'.'.join(loc) or 'input'}: {item.get('msg', 'invalid')}")
        return "; ".join(said) or fallback
    if isinstance(detail, str) and detail.strip():
        return detail.strip()
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return fallback


def _field_of(body: Any) -> str | None:
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = [str(p) for p in detail[0].get("loc", []) if p != "body"]
        return ".".join(loc) or None
    return None


def error_for(
    response: httpx.Response, operation: str, task_id: str | None = None
) -> errors.VideoProviderError:
    """The core error for a non-2xx reply (`{"detail": ...}`, `X-Fal-Error-Type`)."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = {"detail": excerpt(response.text)}
    kind = response.headers.get("x-fal-error-type") or (
        body.get("error_type") if isinstance(body, dict) else None
    )
    where: dict[str, Any] = {
        "provider": PROVIDER,
        "operation": operation,
        "task_id": task_id,
        "http_status": status,
        "code": kind if isinstance(kind, str) else None,
    }
    said = f"fal refused the {operation} (HTTP {status}): {excerpt(detail_of(body))}"
    if status == 401:
        return errors.AuthenticationError(
            said, hint="Check FAL_KEY (fal.ai/dashboard/keys).", **where
        )
    if status == 403:
        return errors.PermissionDenied(said, **where)
    if status == 429:
        return errors.RateLimited(said, retry_after=retry_after(response), **where)
    if status == 404 and operation == "submit":
        return errors.RequestRejected(
            said, field="model", hint="Check the endpoint id on fal.ai/models.", **where
        )
    if status == 404:
        return errors.TaskNotFound(said, **where)
    if status == 422 or (400 <= status < 500 and operation == "submit"):
        return errors.RequestRejected(said, field=_field_of(body), **where)
    if status == 408 or status >= 500:
        return errors.ProviderUnavailable(said, **where)
    if 400 <= status < 500:
        return errors.RequestRejected(said, **where)
    return errors.ProtocolError(said, **where)


def video_url(output: Any) -> str | None:
    """The video's URL in a result: `{"video": {"url": ...}}` and its kin."""
    if isinstance(output, str):
        return output if output.startswith(("https://", "http://")) else None
    if isinstance(output, list):
        return next((u for u in (video_url(o) for o in output) if u), None)
    if isinstance(output, dict):
        for key in _VIDEO_KEYS:
            found = video_url(output.get(key))
            if found:
                return found
    return None


def _status(ref: TaskRef, state: TaskState, at: datetime, **fields: Any) -> TaskStatus:
    return TaskStatus(provider=PROVIDER, task_id=str(ref), state=state, checked_at=at, **fields)


def unknown(ref: TaskRef, at: datetime, why: str) -> TaskStatus:
    return _status(ref, TaskState.UNKNOWN, at, error_code="not_found", error_message=why)


def canceled(ref: TaskRef, at: datetime, raw: dict[str, Any]) -> TaskStatus:
    return _status(ref, TaskState.CANCELED, at, error_code="canceled", raw=raw)


def _is_cancel(body: dict[str, Any]) -> bool:
    said = f"{body.get('error_type') or ''} {body.get('error') or ''}".lower()
    return "cancel" in said


def queue_status(body: Any, ref: TaskRef, at: datetime) -> TaskStatus | None:
    """A status reply's TaskStatus, or None for COMPLETED: its outcome is in the result."""
    if not isinstance(body, dict):
        body = {}
    wire_state = str(body.get("status", "")).upper()
    if wire_state == "IN_QUEUE":
        position = body.get("queue_position")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            position = None
        return _status(ref, TaskState.PENDING, at, queue_position=position, raw=body)
    if wire_state == "IN_PROGRESS":
        return _status(ref, TaskState.PROCESSING, at, raw=body)
    if wire_state == "COMPLETED":
        if _is_cancel(body):
            return canceled(ref, at, body)
        return None
    if wire_state in ("CANCELED", "CANCELLED"):
        return canceled(ref, at, body)
    log.warning("fal reported unknown queue status %r; treating it as still running", wire_state)
    return _status(ref, TaskState.PROCESSING, at, raw=body)


def result_status(response: httpx.Response, ref: TaskRef, at: datetime) -> TaskStatus:
    """The outcome of a completed request from its result reply: a video, or the failure."""
    body = json_body(response, "status", str(ref))
    if response.status_code == 200 and isinstance(body, dict):
        url = video_url(body)
        if url is None:
            raise errors.ProtocolError(
                f"fal's result for {ref} holds no video URL: {excerpt(json.dumps(body))!r}.",
                provider=PROVIDER,
                operation="status",
                task_id=str(ref),
                hint="The endpoint may not produce video; pick a text-to-video endpoint.",
            )
        return _status(ref, TaskState.COMPLETED, at, video_url=url, raw=body, finished_at=at)
    if isinstance(body, dict) and _is_cancel(body):
        return canceled(ref, at, body)
    return failed(ref, at, body, response.headers.get("x-fal-error-type"))


def failed(ref: TaskRef, at: datetime, body: Any, kind: str | None = None) -> TaskStatus:
    code = kind or (body.get("error_type") if isinstance(body, dict) else None) or "error"
    return _status(
        ref,
        TaskState.FAILED,
        at,
        error_code=str(code),
        error_message=detail_of(body, "fal reports the request failed without a message"),
        raw=body if isinstance(body, dict) else {},
        finished_at=at,
    )


def delivery_status(doc: Any, ref: TaskRef, at: datetime) -> TaskStatus:
    """The status in a webhook body: `status` OK with the result as `payload`, or ERROR
    with `error` and the details in `payload` [webhooks]."""
    outcome = str(doc.get("status", "")).upper() if isinstance(doc, dict) else ""
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if outcome == "OK" and isinstance(payload, dict) and video_url(payload):
        url = video_url(payload)
        return _status(ref, TaskState.COMPLETED, at, video_url=url, raw=payload, finished_at=at)
    if outcome == "ERROR":
        said = doc.get("error") if isinstance(doc.get("error"), str) else None
        detail = detail_of(payload, said or "fal reports the request failed")
        message = f"{said}: {detail}" if said and detail != said else detail
        status = failed(ref, at, {"detail": message})
        return status.model_copy(update={"raw": doc})
    raise errors.ProtocolError(
        f"The fal webhook body has no video and no error: {excerpt(json.dumps(doc))!r}.",
        provider=PROVIDER,
        operation="webhook",
        task_id=str(ref),
    )
