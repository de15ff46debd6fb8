"""Replicate's JSON → videoprovider models and errors, and the names on its paths.

Facts and their sources are listed in docs/providers/replicate.md. A status spelling this
module does not know counts as "still running" (logged once), never as done or failed.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from videoprovider import errors
from videoprovider.apiclient import is_video_url, parse_json, reply_context
from videoprovider.backoff import retry_after_header
from videoprovider.errors import malformed_reply
from videoprovider.models import Billed, Task, TaskState, TaskStatus, VideoRequest

log = logging.getLogger("videoprovider.replicate")

PROVIDER = "replicate"
# Outputs of predictions created through the API are removed after an hour [data-retention].
OUTPUT_LIFETIME = timedelta(hours=1)

STATES: dict[str, TaskState] = {
    "starting": TaskState.PENDING,
    "processing": TaskState.PROCESSING,
    "succeeded": TaskState.COMPLETED,
    "failed": TaskState.FAILED,
    "canceled": TaskState.CANCELED,
    # Terminated before it ran (for example past a Cancel-After deadline) [replicate-python
    # #460]: the user did not cancel it, so it is reported as a failure they can resubmit.
    "aborted": TaskState.FAILED,
}
_unknown_states_logged: set[str] = set()

# Used with fullmatch: `^...$` with match() let "abc\n" through, since `$` matches before a
# final newline, and the id reached a URL.
_ID = re.compile(r"[a-z0-9]{1,64}")
_NAME = r"[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?"
_MODEL = re.compile(rf"^({_NAME})/({_NAME})(?::([0-9a-f]{{64}}))?$")
# A tqdm bar line ("45%|████▌     | 45/100"), as replicate-python's Prediction.Progress reads
# it; a bare "100%" elsewhere in a log (weights loaded) says nothing about the video.
_PERCENT = re.compile(r"^\s*(\d{1,3})%\s*\|.*?\|\s*\d+/\d+", re.M)
_RESETS_IN = re.compile(r"resets in ~?(\d+(?:\.\d+)?)\s*s", re.I)
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif")
_VIDEO_KEYS = ("video", "video_url", "url", "output", "file")


@dataclass(frozen=True)
class ModelRef:
    """`owner/name` (an official model) or `owner/name:version`."""

    owner: str
    name: str
    version: str | None = None

    def __str__(self) -> str:
        base = f"{self.owner}/{self.name}"
        return f"{base}:{self.version}" if self.version else base

    @property
    def model_path(self) -> str:
        return f"/models/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


def parse_model(value: str, operation: str = "submit") -> ModelRef:
    """The model reference in `value`, or RequestRejected naming the accepted forms."""
    match = _MODEL.match(value.strip())
    if not match:
        raise errors.RequestRejected(
            f"{value!r} is not a Replicate model: use owner/name (an official model such as "
            "wan-video/wan-2.5-t2v) or owner/name:version with the 64-character version id.",
            field="model",
            provider=PROVIDER,
            operation=operation,
        )
    return ModelRef(match.group(1), match.group(2), match.group(3))


def is_prediction_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def prediction_path(task_id: str, operation: str, suffix: str = "") -> str:
    """`/predictions/<id><suffix>`; TaskNotFound, before any request, for a malformed id."""
    if not isinstance(task_id, str) or _ID.fullmatch(task_id) is None:
        raise errors.TaskNotFound(
            f"{task_id!r} is not a Replicate prediction id (lowercase letters and digits, as in "
            "'gm3qorzdhgbfurvjtvhg6dckhu'); nothing was sent.",
            provider=PROVIDER,
            operation=operation,
            task_id=str(task_id),
            hint="Pass the id that submit returned.",
        )
    return f"/predictions/{quote(task_id, safe='')}{suffix}"


def excerpt(text: str, limit: int = 200) -> str:
    """A short excerpt of a reply for error messages (tokens never appear in replies)."""
    cleaned = " ".join(re.sub(r"r8_[A-Za-z0-9]{4}[A-Za-z0-9]+", "r8_…", text).split())
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or a date), else the body's "resets in ~30s"."""
    header = retry_after_header(response.headers, now)
    if header is not None:
        return header
    match = _RESETS_IN.search(response.text)
    return float(match.group(1)) if match else None


def json_body(response: httpx.Response, operation: str, task_id: str | None = None) -> Any:
    try:
        return parse_json(response.content)
    except ValueError:
        raise errors.ProtocolError(
            f"Replicate answered HTTP {response.status_code} with something that is not JSON: "
            f"{excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        ) from None


def error_for(
    response: httpx.Response, operation: str, task_id: str | None = None
) -> errors.VideoProviderError:
    """The core error for a non-2xx reply (Replicate answers problem details: title, detail)."""
    status = response.status_code
    try:
        body = parse_json(response.content)
    except ValueError:
        body = {"detail": excerpt(response.text)}
    if not isinstance(body, dict):
        body = {}
    detail = str(body.get("detail") or body.get("title") or "no detail").strip()
    where: dict[str, Any] = {
        "provider": PROVIDER,
        "operation": operation,
        "task_id": task_id,
        "http_status": status,
    }
    said = f"Replicate refused the {operation} (HTTP {status}): {excerpt(detail)}"
    if status == 401:
        return errors.AuthenticationError(
            said, hint="Check REPLICATE_API_TOKEN (replicate.com/account/api-tokens).", **where
        )
    if status == 402:
        return errors.AccountError(said, **where)
    if status == 403:
        return errors.PermissionDenied(said, **where)
    if status == 429:
        return errors.RateLimited(said, retry_after=retry_after(response), **where)
    if status == 404 and operation in ("submit", "schema"):
        return errors.RequestRejected(
            said,
            field="model",
            hint="Check the model name (owner/name) and version on replicate.com.",
            **where,
        )
    if status == 404:
        return errors.TaskNotFound(said, **where)
    if status == 408 or status >= 500:
        return errors.ProviderUnavailable(said, **where)
    if 400 <= status < 500:
        return errors.RequestRejected(said, **where)
    return errors.ProtocolError(said, **where)


def video_url(output: Any) -> str | None:
    """The video's URL in `output`: a string, a list of them, or an object holding one."""
    if isinstance(output, str):
        return output if is_video_url(output) else None
    if isinstance(output, list):
        urls = [u for u in (video_url(item) for item in output) if u]
        videos = [u for u in urls if u.split("?")[0].lower().endswith(_VIDEO_SUFFIXES)]
        return (videos or urls)[0] if urls else None
    if isinstance(output, dict):
        for key in _VIDEO_KEYS:
            found = video_url(output.get(key))
            if found:
                return found
    return None


def progress_from_logs(logs: Any) -> int:
    """The last percentage the model printed (tqdm bars), or -1 when it printed none."""
    if not isinstance(logs, str):
        return -1
    found = [int(m) for m in _PERCENT.findall(logs[-4000:]) if 0 <= int(m) <= 100]
    return found[-1] if found else -1


def _prediction(response: httpx.Response, operation: str, task_id: str | None) -> dict[str, Any]:
    body = json_body(response, operation, task_id)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise errors.ProtocolError(
            f"Replicate's {operation} reply is not a prediction: {excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        )
    return body


def parse_submit(response: httpx.Response, request: VideoRequest, submitted_at: datetime) -> Task:
    """The accepted Task; ProtocolError when the reply names no prediction (the provider
    turns that into SubmitOutcomeUnknown: the prediction may exist)."""
    body = _prediction(response, "submit", None)
    with malformed_reply("Replicate's submit reply", **_where(response, "submit", None)):
        return _task(body, request, submitted_at)


def _task(body: dict[str, Any], request: VideoRequest, submitted_at: datetime) -> Task:
    return Task(
        provider=PROVIDER,
        task_id=body["id"],
        request=request,
        submitted_at=parse_time(body.get("created_at")) or submitted_at,
    )


def unknown_status(task_id: str, checked_at: datetime, why: str) -> TaskStatus:
    return TaskStatus(
        provider=PROVIDER,
        task_id=task_id,
        state=TaskState.UNKNOWN,
        error_code="not_found",
        error_message=why,
        checked_at=checked_at,
    )


def parse_status(
    response: httpx.Response, task_id: str, checked_at: datetime, operation: str = "status"
) -> TaskStatus:
    body = _prediction(response, operation, task_id)
    if body["id"] != task_id:
        raise errors.ProtocolError(
            f"Replicate answered the {operation} of prediction {task_id} with another "
            f"prediction ({excerpt(body['id'], 60)!r}); it is not believed.",
            **_where(response, operation, task_id),
        )
    return status_of(body, task_id, checked_at, operation)


def _where(response: httpx.Response, operation: str, task_id: str | None) -> dict[str, Any]:
    return reply_context(response, PROVIDER, operation, task_id)


def parse_delivery(body: bytes, checked_at: datetime) -> TaskStatus:
    """The status in a webhook delivery's body: the prediction, shaped as a poll returns it
    [webhooks]. ProtocolError when the body is not a prediction."""
    try:
        doc: Any = parse_json(body)
    except ValueError:
        doc = None
    task_id = doc.get("id") if isinstance(doc, dict) else None
    if not isinstance(task_id, str) or _ID.fullmatch(task_id) is None:
        raise errors.ProtocolError(
            "The webhook body is not a Replicate prediction (a JSON object with its id): "
            f"{excerpt(body.decode('utf-8', 'replace'))!r}.",
            provider=PROVIDER,
            operation="webhook",
        )
    return status_of(doc, task_id, checked_at, "webhook")


def status_of(
    body: dict[str, Any], task_id: str, checked_at: datetime, operation: str
) -> TaskStatus:
    """The TaskStatus of the prediction `body`, however it arrived (poll, cancel, webhook);
    ProtocolError for a body of another shape."""
    where: dict[str, Any] = {"provider": PROVIDER, "operation": operation, "task_id": task_id}
    wire_state = body.get("status")
    if not isinstance(wire_state, str):
        raise errors.ProtocolError(
            f"Replicate's prediction {task_id} has a status that is not a string: "
            f"{excerpt(str(type(wire_state).__name__))}.",
            **where,
        )
    with malformed_reply(f"Replicate's prediction {task_id}", **where):
        return _status(body, wire_state, task_id, checked_at, operation)


def _status(
    body: dict[str, Any], wire_state: str, task_id: str, checked_at: datetime, operation: str
) -> TaskStatus:
    state = STATES.get(wire_state.strip().lower())
    if state is None:
        state = TaskState.PROCESSING
        if wire_state[:100] not in _unknown_states_logged and len(_unknown_states_logged) < 100:
            _unknown_states_logged.add(wire_state[:100])
            log.warning(
                "Replicate reported unknown prediction status %r; treating it as still running",
                wire_state,
            )
    finished = parse_time(body.get("completed_at"))
    url = video_url(body.get("output")) if state is TaskState.COMPLETED else None
    error_code = error_message = None
    if state is TaskState.COMPLETED and url is None:
        if body.get("data_removed"):
            # The video existed but was deleted with the prediction's data [data-retention].
            state, error_code = TaskState.UNKNOWN, "data_removed"
            error_message = "Replicate removed this prediction's output (kept one hour)."
        else:
            raise errors.ProtocolError(
                f"Replicate reports prediction {task_id} succeeded without an https video URL "
                f"in its output: {excerpt(json.dumps(body.get('output')))!r}.",
                provider=PROVIDER,
                operation=operation,
                task_id=task_id,
                hint="The model may not produce video; pick a text-to-video model.",
            )
    if state is TaskState.FAILED:
        error_code = str(wire_state)
        error_message = str(body.get("error") or "no error message")
    progress = progress_from_logs(body.get("logs")) if state is TaskState.PROCESSING else -1
    metrics = body.get("metrics")
    return TaskStatus(
        provider=PROVIDER,
        task_id=task_id,
        state=state,
        progress=progress,
        video_url=url,
        video_url_expires_at=(finished or checked_at) + OUTPUT_LIFETIME if url else None,
        error_code=error_code,
        error_message=error_message,
        submitted_at=parse_time(body.get("created_at")),
        started_at=parse_time(body.get("started_at")),
        finished_at=finished,
        checked_at=checked_at,
        usage=metrics if isinstance(metrics, dict) else None,
        billed=billed(metrics) if state is TaskState.COMPLETED else None,
        raw=body,
    )


def billed(metrics: object) -> Billed | None:
    """The compute time a succeeded prediction reports (`metrics.predict_time`, seconds): what
    Replicate bills for models priced by hardware time. A model priced per output or per
    run is billed otherwise, so only a `per_compute_second` price turns this into a cost;
    for any other price the estimate stands."""
    if not isinstance(metrics, dict):
        return None
    seconds = metrics.get("predict_time")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    try:
        seconds = float(seconds)
    except OverflowError:
        return None
    return Billed(compute_seconds=seconds) if 0 <= seconds < float("inf") else None
