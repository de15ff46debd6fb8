"""DashScope replies → videoprovider models and errors.

Status strings go through a synonym table because gateways and proxies pass their own
spellings through; a spelling still unknown counts as "still running" (logged once), never
as done (downloading too early) or failed (abandoning a paid video) [protocol notes §12].
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from videoprovider import errors
from videoprovider.apiclient import is_video_url, parse_json, reply_context
from videoprovider.backoff import retry_after_header
from videoprovider.download import redact_url
from videoprovider.errors import malformed_reply
from videoprovider.models import Billed, Task, TaskState, TaskStatus, VideoRequest

log = logging.getLogger("videoprovider.dashscope")

PROVIDER = "dashscope"
URL_LIFETIME = timedelta(hours=24)  # [QC wan-text-to-video/query-result] video_url expiry
# Times come as "2023-12-20 21:36:31.896" without a zone [protocol notes §6, uncertain]; the
# service runs on China Standard Time, which Singapore time equals.
SERVER_TZ = timezone(timedelta(hours=8))
# DashScope issues UUIDs; accept their alphabet (letters, digits, hyphens) so an id from a
# host's user can never become `..`, `.`, `#`, `%2F`, `\\` or a control character in a path.
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")

STATES: dict[str, TaskState] = {
    "PENDING": TaskState.PENDING,
    "QUEUED": TaskState.PENDING,
    "QUEUING": TaskState.PENDING,
    "NOT_START": TaskState.PENDING,
    "SUBMITTED": TaskState.PENDING,
    "RUNNING": TaskState.PROCESSING,
    "PROCESSING": TaskState.PROCESSING,
    "IN_PROGRESS": TaskState.PROCESSING,
    "SUSPENDED": TaskState.PROCESSING,
    "SUCCEEDED": TaskState.COMPLETED,
    "SUCCEED": TaskState.COMPLETED,
    "SUCCESS": TaskState.COMPLETED,
    "COMPLETED": TaskState.COMPLETED,
    "FAILED": TaskState.FAILED,
    "FAILURE": TaskState.FAILED,
    "ERROR": TaskState.FAILED,
    "CANCELED": TaskState.CANCELED,
    "CANCELLED": TaskState.CANCELED,
    "UNKNOWN": TaskState.UNKNOWN,
}
_unknown_states_logged: set[str] = set()

_SECRETISH = re.compile(
    r"(sk-[A-Za-z0-9_-]{4})[A-Za-z0-9_-]+|([?&](?:Signature|Expires|"
    r"OSSAccessKeyId|security-token)=)[^&\s\"']+",
    re.I,
)


def excerpt(text: str, limit: int = 200) -> str:
    """A short, redacted excerpt of a reply for error messages."""
    cleaned = _SECRETISH.sub(lambda m: (m.group(1) or m.group(2)) + "…", text)
    cleaned = " ".join(cleaned.split())
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SERVER_TZ)


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms`, or `Retry-After` (seconds or date)."""
    return retry_after_header(response.headers, now)


def json_body(response: httpx.Response, operation: str, task_id: str | None = None) -> Any:
    try:
        return parse_json(response.content)
    except ValueError:
        raise errors.ProtocolError(
            f"DashScope answered HTTP {response.status_code} with something that is not JSON: "
            f"{excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None


def error_for(
    response: httpx.Response, operation: str, task_id: str | None = None, body: Any = None
) -> errors.VideoProviderError:
    """The core error for a DashScope error reply (non-2xx, or 200 with a business code)."""
    if body is None:
        try:
            body = json_body(response, operation, task_id)
        except errors.ProtocolError:
            if response.status_code < 500 and response.status_code not in (408, 429):
                raise
            # Gateways in front of the service answer overload with HTML pages.
            body = {"message": excerpt(response.text)}
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    code = str(body.get("code") or "") or None
    message = str(body.get("message") or body.get("msg") or "").strip() or "no message"
    where: dict[str, Any] = {
        "provider": PROVIDER,
        "operation": operation,
        "task_id": task_id,
        "code": code,
        "http_status": status,
        "request_id": body.get("request_id") or response.headers.get("x-request-id"),
    }
    said = f"DashScope refused the {operation} (HTTP {status}, {code or 'no code'}): {message}"
    c = code or ""
    if status == 401 or c == "InvalidApiKey":
        return errors.AuthenticationError(
            said,
            hint="Check DASHSCOPE_API_KEY, and that the key belongs to the region of "
            "base_url (keys do not work across regions).",
            **where,
        )
    if c == "Arrearage":
        return errors.AccountError(said, **where)
    if status == 403 or c.startswith("AccessDenied"):
        return errors.PermissionDenied(
            said,
            hint="Enable the model for this account or workspace in the Model Studio "
            "console; this also happens when the X-DashScope-Async header is missing.",
            **where,
        )
    if c == "DataInspectionFailed":
        return errors.ContentRejected(said, **where)
    if status == 429 or c.startswith("Throttling"):
        return errors.RateLimited(said, retry_after=retry_after(response), **where)
    if status == 404 or c in ("Model.NotExist", "ModelNotFound"):
        if operation == "submit":
            return errors.RequestRejected(
                said,
                field="model",
                hint="Check the model name and that it is offered in this region.",
                **where,
            )
        return errors.ProtocolError(
            said, hint="Check base_url: this route does not exist there.", **where
        )
    if status == 408 or status >= 500 or c.startswith(_TRANSIENT_CODES):
        return errors.ProviderUnavailable(said, **where)
    if 400 <= status < 500 or c.startswith(_REFUSAL_CODES):
        return errors.RequestRejected(said, **where)
    if code and operation == "submit":
        # [protocol notes §7] A 2xx with a business code and no task: nothing was created,
        # so this is a refusal (safe to fix and resend), not an outcome to be unsure of.
        return errors.RequestRejected(said, **where)
    return errors.ProtocolError(said, **where)


# Business codes that classify a reply whatever its HTTP status (a gateway can answer 200 with
# one) [protocol notes §7; SDK v2/errors.py ErrorCode].
_TRANSIENT_CODES = ("InternalError", "ServiceUnavailable", "GatewayTimeout", "RequestTimeOut")
_REFUSAL_CODES = (
    "InvalidParameter",
    "BadRequest",
    "InvalidURL",
    "InvalidFile",
    "UnsupportedOperation",
)
# A task the service does not know, said as a business code rather than task_status UNKNOWN.
# Only a code or message about a *task* counts: "Workspace.NotFound" is not a missing task.
_TASK_MISSING_CODE = re.compile(r"task.*not[ _.-]?(found|exists?)", re.I)
_MISSING = re.compile(r"not[ _.-]?(found|exists?)|does not exist|no such|expired", re.I)


def _task_missing(body: dict[str, Any]) -> bool:
    code = str(body.get("code") or "")
    message = str(body.get("message") or body.get("msg") or "")
    if _TASK_MISSING_CODE.search(code):
        return True
    return "task" in message.lower() and bool(_MISSING.search(message))


def _output(
    response: httpx.Response, operation: str, task_id: str | None = None, body: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reply's body and its `output` object; a business error or a ProtocolError else."""
    if body is None:
        body = json_body(response, operation, task_id)
    output = body.get("output") if isinstance(body, dict) else None
    if isinstance(output, dict):
        return body, output
    if isinstance(body, dict) and body.get("code"):
        raise error_for(response, operation, task_id, body)
    raise errors.ProtocolError(
        f"DashScope's {operation} reply has no output: {excerpt(response.text)!r}.",
        provider=PROVIDER,
        operation=operation,
        task_id=task_id,
        http_status=response.status_code,
    )


def parse_submit(response: httpx.Response, request: VideoRequest, submitted_at: datetime) -> Task:
    """The accepted Task; a ProtocolError when the reply carries no task id (the provider
    turns that into SubmitOutcomeUnknown: the task may exist)."""
    with malformed_reply("DashScope's submit reply", **_where(response, "submit", None)):
        return _submitted(response, request, submitted_at)


def _where(response: httpx.Response, operation: str, task_id: str | None) -> dict[str, Any]:
    return reply_context(response, PROVIDER, operation, task_id)


def _submitted(response: httpx.Response, request: VideoRequest, submitted_at: datetime) -> Task:
    body, output = _output(response, "submit")
    task_id = output.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise errors.ProtocolError(
            f"DashScope's submit reply has no task id: {excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation="submit",
            http_status=response.status_code,
        )
    return Task(
        provider=PROVIDER,
        task_id=task_id,
        request=request,
        submitted_at=submitted_at,
        request_id=body.get("request_id"),
    )


def parse_status(response: httpx.Response, task_id: str, checked_at: datetime) -> TaskStatus:
    """The status of `task_id` in a `GET /tasks/{id}` reply; ProtocolError for a reply of
    another shape, of another task, or naming a video URL that is not https."""
    with malformed_reply("DashScope's task reply", **_where(response, "status", task_id)):
        return _status(response, task_id, checked_at)


def _status(response: httpx.Response, task_id: str, checked_at: datetime) -> TaskStatus:
    body = json_body(response, "status", task_id)
    if (
        isinstance(body, dict)
        and body.get("code")
        and not isinstance(body.get("output"), dict)
        and _task_missing(body)
    ):
        # Same meaning as task_status UNKNOWN: never existed, or expired. Retrying cannot help.
        return TaskStatus(
            provider=PROVIDER,
            task_id=task_id,
            state=TaskState.UNKNOWN,
            request_id=body.get("request_id") or response.headers.get("x-request-id"),
            checked_at=checked_at,
            raw=body,
        )
    body, output = _output(response, "status", task_id, body)
    if not isinstance(output.get("task_status"), str):
        raise errors.ProtocolError(
            f"DashScope's task reply has no output.task_status: {excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation="status",
            task_id=task_id,
            http_status=response.status_code,
        )
    named = output.get("task_id")
    if named is not None and named != task_id:
        raise errors.ProtocolError(
            f"DashScope answered the status of task {task_id} with another task "
            f"({excerpt(str(named), 60)!r}); it is not believed.",
            **_where(response, "status", task_id),
        )
    wire_state = output["task_status"]
    state = STATES.get(wire_state.strip().upper())
    if state is None:
        state = TaskState.PROCESSING
        if wire_state[:100] not in _unknown_states_logged and len(_unknown_states_logged) < 100:
            _unknown_states_logged.add(wire_state[:100])
            log.warning(
                "DashScope reported unknown task status %r; treating it as still running",
                wire_state,
            )
    finished = parse_time(output.get("end_time"))
    url = output.get("video_url") if state is TaskState.COMPLETED else None
    if state is TaskState.COMPLETED and not (isinstance(url, str) and is_video_url(url)):
        raise errors.ProtocolError(
            f"DashScope reports task {task_id} SUCCEEDED without an https video_url"
            + (f" ({redact_url(url)[:100]!r})." if isinstance(url, str) else "."),
            provider=PROVIDER,
            operation="status",
            task_id=task_id,
        )
    progress = output.get("progress")
    usage = body.get("usage")
    return TaskStatus(
        provider=PROVIDER,
        task_id=task_id,
        state=state,
        progress=progress if isinstance(progress, int) and 0 <= progress <= 100 else -1,
        video_url=url,
        video_url_expires_at=(finished or checked_at) + URL_LIFETIME if url else None,
        error_code=output.get("code") if state is TaskState.FAILED else None,
        error_message=output.get("message") if state is TaskState.FAILED else None,
        request_id=body.get("request_id"),
        submitted_at=parse_time(output.get("submit_time")),
        started_at=parse_time(output.get("scheduled_time")),
        finished_at=finished,
        checked_at=checked_at,
        actual_prompt=output.get("actual_prompt") or output.get("orig_prompt"),
        usage=usage if isinstance(usage, dict) else None,
        billed=billed(usage) if state is TaskState.COMPLETED else None,
        raw=body,
    )


def billed(usage: object) -> Billed | None:
    """What a succeeded task's `usage` says was billed, in neutral terms; None when it says
    nothing we can read. wan2.1-2.6 report `{"video_duration": 5, "video_count": 1, "SR": 720}`;
    wan2.7 reports `duration` (input plus output video seconds, both billed), `SR` and `ratio`
    [protocol notes §6: the shape is uncertain, so every field is optional]."""
    if not isinstance(usage, dict):
        return None
    seconds = _number(usage.get("video_duration", usage.get("duration")))
    tier = _number(usage.get("SR"))
    count = _number(usage.get("video_count"))
    if seconds is None and tier is None and count is None:
        return None
    return Billed(
        seconds=seconds,
        resolution=f"{int(tier)}P" if tier else None,
        videos=int(count) if count is not None else None,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value.strip().upper().removesuffix("P") if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def list_window(when: datetime) -> str:
    """A `start_time`/`end_time` of the task listing: `20230420000000` in server time, as
    the SDK's docstring gives it [SDK base_api.py list; protocol notes §3, uncertain]."""
    return when.astimezone(SERVER_TZ).strftime("%Y%m%d%H%M%S")


def parse_task_page(response: httpx.Response, checked_at: datetime) -> tuple[list[TaskStatus], int]:
    """One page of `GET /tasks`: its tasks and the number of pages.

    The shape is uncertain (protocol notes §6, §13): rows under `data` (the SDK's test
    fixtures) or `tasks`, each with `task_id`, `status` or `task_status`, and `gmt_create`
    in server time; anything else in a row is kept in `raw`.
    """
    with malformed_reply("DashScope's task listing", **_where(response, "list", None)):
        return _task_page(response, checked_at)


def _task_page(response: httpx.Response, checked_at: datetime) -> tuple[list[TaskStatus], int]:
    body = json_body(response, "list")
    rows = body.get("data", body.get("tasks")) if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise errors.ProtocolError(
            f"DashScope's task listing has no list of tasks: {excerpt(response.text)!r}.",
            provider="dashscope",
            operation="list",
            http_status=response.status_code,
        )
    statuses = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
            continue
        wire_state = str(row.get("status") or row.get("task_status") or "")
        statuses.append(
            TaskStatus(
                provider="dashscope",
                task_id=row["task_id"],
                state=STATES.get(wire_state.upper(), TaskState.PROCESSING),
                submitted_at=parse_time(row.get("gmt_create") or row.get("submit_time")),
                checked_at=checked_at,
                raw=row,
            )
        )
    pages = body.get("total_page", 1)
    return statuses, pages if isinstance(pages, int) and pages > 0 else 1
