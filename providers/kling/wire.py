"""Kling's shapes on the wire: task references, replies, task objects and the error codes.

Every reply is `{"code", "message", "request_id", "data"}`; `code` 0 is success and any other
is a row of the error-code table, which also fixes the HTTP status [common-info]. A task
object holds `task_id`, `task_status` (submitted, processing, succeed, failed),
`task_status_msg`, `task_info.external_task_id`, times in milliseconds and, once it
succeeded, `task_result.videos[].url` [text2video].
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from videoprovider import errors
from videoprovider.models import TaskState, TaskStatus

from .catalog import Kind

PROVIDER = "kling"
# Kling's task ids are digits (or URL-safe Base64 on some accounts); ours carry the kind in
# front, `t2v-867283741759111202`, so a bare id from anywhere finds its query path.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
STATES = {
    "submitted": TaskState.PENDING,
    "processing": TaskState.PROCESSING,
    "succeed": TaskState.COMPLETED,
    "failed": TaskState.FAILED,
}
# Generated videos are deleted 30 days after they are made [common-info].
RETENTION = timedelta(days=30)
# The codes whose HTTP status is 429 but that are not throttling: the account itself.
ACCOUNT_CODES = {1100, 1101, 1102}
# A concurrency refusal frees up only as running tasks end: minutes, not seconds.
CONCURRENCY_RETRY = 30.0
RATE_RETRY = 2.0
NO_SUCH_TASK_CODES = {1202, 1203}


def task_ref(kind: Kind, service_id: str) -> str:
    return f"{kind.value}-{service_id}"


def split_ref(task_id: str) -> tuple[Kind, str] | None:
    """(kind, Kling's id) of one of our task ids; None for anything else."""
    prefix, sep, rest = task_id.partition("-")
    try:
        kind = Kind(prefix)
    except ValueError:
        return None
    return (kind, rest) if sep and _ID.match(rest) else None


def is_external_id(value: str) -> bool:
    return bool(_ID.match(value))


def query_path(kind: Kind, service_id: str) -> str:
    return f"/v1/videos/{kind.path}/{quote(service_id, safe='')}"


def excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_of(response: httpx.Response, operation: str, task_id: str | None = None) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.ProtocolError(
            f"Kling answered HTTP {response.status_code} with something that is not JSON: "
            f"{excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        ) from None


def code_of(doc: Any) -> int | None:
    code = doc.get("code") if isinstance(doc, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def retry_after(response: httpx.Response, code: int | None) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return CONCURRENCY_RETRY if code == 1303 else RATE_RETRY


def error_for(
    response: httpx.Response, operation: str, task_id: str | None = None
) -> errors.VideoProviderError:
    """The core error for a refusal: by the service code where there is one, else by HTTP."""
    status = response.status_code
    try:
        doc = response.json()
    except ValueError:
        doc = {"message": excerpt(response.text)}
    code = code_of(doc)
    message = str(doc.get("message") or "no message") if isinstance(doc, dict) else ""
    request_id = doc.get("request_id") if isinstance(doc, dict) else None
    where: dict[str, Any] = {
        "provider": PROVIDER,
        "operation": operation,
        "task_id": task_id,
        "http_status": status,
        "code": None if code is None else str(code),
        "request_id": request_id if isinstance(request_id, str) else None,
    }
    said = f"Kling refused the {operation} (HTTP {status}, code {code}): {excerpt(message)}."
    if code in (1003, 1004):
        return errors.AuthenticationError(
            said,
            hint="The request token's nbf/exp do not fit Kling's clock: check this machine's "
            "clock (tokens are signed from it).",
            **where,
        )
    if (code is not None and 1000 <= code < 1100) or (code is None and status == 401):
        return errors.AuthenticationError(
            said,
            hint="Check KLING_API_KEY, or KLING_ACCESS_KEY and KLING_SECRET_KEY (one key "
            "pair), from the console of the region of base_url.",
            **where,
        )
    if code in ACCOUNT_CODES:
        return errors.AccountError(
            said,
            hint="The account is in arrears or its resource pack is used up or expired: top "
            "it up in the Kling console.",
            **where,
        )
    if code in (1103, 1304) or (code is None and status == 403):
        return errors.PermissionDenied(
            said,
            hint="The key may not use this model or API, or this IP is not on the key's "
            "whitelist: check the key in the Kling console.",
            **where,
        )
    if code in (1302, 1303) or (code is None and status == 429):
        return errors.RateLimited(said, retry_after=retry_after(response, code), **where)
    if code == 1301:
        return errors.ContentRejected(said, **where)
    if code in NO_SUCH_TASK_CODES or (code is None and status == 404):
        if operation == "submit":
            return errors.RequestRejected(said, field="model", **where)
        return errors.TaskNotFound(said, **where)
    if status >= 500 or (code is not None and code >= 5000):
        return errors.ProviderUnavailable(said, **where)
    if 400 <= status < 500 or code is not None:
        return errors.RequestRejected(said, **where)
    return errors.ProtocolError(said, **where)


def _ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def data_of(doc: Any, response: httpx.Response, operation: str, task_id: str | None) -> Any:
    """`data` of a successful reply; ProtocolError for a reply that is not one."""
    if not isinstance(doc, dict) or code_of(doc) != 0 or not isinstance(doc.get("data"), dict):
        raise errors.ProtocolError(
            f"Kling's {operation} reply is not a task: {excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        )
    return doc["data"]


def status_of(task: Any, kind: Kind, checked_at: datetime, request_id: str | None) -> TaskStatus:
    """A task object (a query's `data`, or a callback's body) as a TaskStatus."""
    if not isinstance(task, dict) or not isinstance(task.get("task_id"), str):
        raise errors.ProtocolError(
            "Kling sent a task object without a task_id.", provider=PROVIDER, operation="status"
        )
    task_id = task_ref(kind, task["task_id"])
    raw_state = task.get("task_status")
    state = STATES.get(raw_state) if isinstance(raw_state, str) else None
    if state is None:
        raise errors.ProtocolError(
            f"Kling reported task_status {raw_state!r}, which its docs do not list.",
            provider=PROVIDER,
            operation="status",
            task_id=task_id,
        )
    updated = _ms(task.get("updated_at"))
    url = None
    if state is TaskState.COMPLETED:
        videos = (task.get("task_result") or {}).get("videos") or []
        url = next((v.get("url") for v in videos if isinstance(v, dict) and v.get("url")), None)
        if not isinstance(url, str):
            raise errors.ProtocolError(
                "Kling reported the task succeeded but gave no video URL.",
                provider=PROVIDER,
                operation="status",
                task_id=task_id,
            )
    message = task.get("task_status_msg")
    finished = updated if state.is_terminal else None
    return TaskStatus(
        provider=PROVIDER,
        task_id=task_id,
        state=state,
        video_url=url,
        video_url_expires_at=finished + RETENTION if url and finished else None,
        error_code="failed" if state is TaskState.FAILED else None,
        error_message=str(message) if message and state is TaskState.FAILED else None,
        request_id=request_id,
        submitted_at=_ms(task.get("created_at")),
        finished_at=finished,
        checked_at=checked_at,
        raw=task,
    )


def unknown(task_id: str, checked_at: datetime, why: str) -> TaskStatus:
    return TaskStatus(
        provider=PROVIDER,
        task_id=task_id,
        state=TaskState.UNKNOWN,
        error_message=why,
        checked_at=checked_at,
    )
