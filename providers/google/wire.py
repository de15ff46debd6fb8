"""The Gemini API's long-running operations → videoprovider models and errors.

Facts and their sources are listed in docs/providers/google.md. An operation is `name`,
`done`, and once done either `error` (a google.rpc.Status) or `response`, whose
`generateVideoResponse` holds `generatedSamples[].video.uri` and, when safety filters removed
videos, `raiMediaFilteredCount` and `raiMediaFilteredReasons` [sdk].
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from videoprovider import errors
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest

from .catalog import PROVIDER, WIRE_RESOLUTIONS

# `models/<model>/operations/<id>` as the Gemini API names a predictLongRunning operation
# [veo-guide REST sample]; fullmatch, so no other path segment can ride along.
OPERATION = re.compile(r"models/([a-z0-9][a-z0-9.-]{0,62})/operations/([A-Za-z0-9_-]{1,128})")
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def operation_path(task_id: str, operation: str) -> str:
    """`/models/<m>/operations/<id>`, each part percent-encoded; TaskNotFound, before any
    request, for a name the Gemini API never issues."""
    match = OPERATION.fullmatch(task_id) if isinstance(task_id, str) else None
    if match is None:
        raise errors.TaskNotFound(
            f"{task_id!r} is not a Gemini API video operation name (models/<model>/operations/"
            "<id>); nothing was sent.",
            provider=PROVIDER,
            operation=operation,
            task_id=str(task_id),
            hint="Pass the name that submit returned.",
        )
    return f"/models/{quote(match[1], safe='')}/operations/{quote(match[2], safe='')}"


def request_body(request: VideoRequest, images: dict[str, Any]) -> dict[str, Any]:
    """The predictLongRunning body [sdk `_GenerateVideosParameters_to_mldev`]."""
    instance: dict[str, Any] = {"prompt": request.prompt, **images}
    parameters: dict[str, Any] = {}
    if request.aspect_ratio:
        parameters["aspectRatio"] = request.aspect_ratio
    if request.resolution:
        parameters["resolution"] = WIRE_RESOLUTIONS[request.resolution]
    if request.duration is not None:
        parameters["durationSeconds"] = request.duration
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    if "person_generation" in request.extra:
        parameters["personGeneration"] = request.extra["person_generation"]
    body: dict[str, Any] = {"instances": [instance]}
    if parameters:
        body["parameters"] = parameters
    return body


def excerpt(text: str, limit: int = 200) -> str:
    # Gemini keys start AIza; a reply never carries one, but an echo must not print it.
    cleaned = " ".join(re.sub(r"AIza[0-9A-Za-z_-]{10,}", "AIza…", text).split())
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")


def json_body(response: httpx.Response, operation: str, task_id: str | None = None) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.ProtocolError(
            f"The Gemini API answered HTTP {response.status_code} with something that is not "
            f"JSON: {excerpt(response.text)!r}.",
            provider=PROVIDER,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        ) from None


def _status(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait: `Retry-After`, else the google.rpc.RetryInfo `retryDelay` ("30s")."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None and now is not None:
                return max(0.0, (when - now).total_seconds())
    try:
        details = _status(response.json()).get("details") or []
    except ValueError:
        return None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


def _reason(status: dict[str, Any]) -> str:
    for detail in status.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return ""


def error_for(
    response: httpx.Response,
    operation: str,
    task_id: str | None = None,
    provider: str = PROVIDER,
) -> errors.VideoProviderError:
    """The core error for a non-2xx reply: `{"error": {code, message, status, details}}`."""
    http = response.status_code
    try:
        status = _status(response.json())
    except ValueError:
        status = {"message": excerpt(response.text)}
    code = str(status.get("status") or "")
    message = excerpt(str(status.get("message") or "no message"))
    where: dict[str, Any] = {
        "provider": provider,
        "operation": operation,
        "task_id": task_id,
        "http_status": http,
        "code": code or None,
    }
    service = "Vertex AI" if provider == "vertex" else "The Gemini API"
    said = f"{service} refused the {operation} (HTTP {http} {code}): {message}"
    # An invalid key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID [errors-guide].
    if http in (401, 403) or _reason(status) in ("API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"):
        return errors.AuthenticationError(
            said, hint="Check GEMINI_API_KEY (aistudio.google.com/apikey).", **where
        )
    if http == 429 or code == "RESOURCE_EXHAUSTED":
        return errors.RateLimited(
            said,
            retry_after=retry_after(response),
            hint="Wait, or raise the project's quota (Veo needs a paid tier).",
            **where,
        )
    if http == 404 and operation == "submit":
        return errors.RequestRejected(said, field="model", hint="Check the model name.", **where)
    if http == 404:
        return errors.TaskNotFound(said, **where)
    if http == 408 or http >= 500:
        return errors.ProviderUnavailable(said, **where)
    if 400 <= http < 500:
        return errors.RequestRejected(said, **where)
    return errors.ProtocolError(said, **where)


def parse_operation(
    response: httpx.Response,
    operation: str,
    task_id: str | None,
    provider: str = PROVIDER,
    names: re.Pattern[str] = OPERATION,
    key: str = "name",
) -> dict[str, Any]:
    """The JSON object of `response`, whose `key` (an operation's `name`, an interaction's
    `id`) matches `names`; ProtocolError for anything else."""
    body = json_body(response, operation, task_id)
    name = body.get(key) if isinstance(body, dict) else None
    if not isinstance(name, str) or names.fullmatch(name) is None:
        raise errors.ProtocolError(
            f"The {operation} reply is not a video task: {excerpt(response.text)!r}.",
            provider=provider,
            operation=operation,
            task_id=task_id,
            http_status=response.status_code,
        )
    return dict(body)


def parse_submit(
    response: httpx.Response,
    request: VideoRequest,
    submitted_at: datetime,
    provider: str = PROVIDER,
    names: re.Pattern[str] = OPERATION,
) -> Task:
    body = parse_operation(response, "submit", None, provider, names)
    return Task(provider=provider, task_id=body["name"], request=request, submitted_at=submitted_at)


def unknown_status(task_id: str, checked_at: datetime, provider: str) -> TaskStatus:
    return TaskStatus(
        provider=provider,
        task_id=task_id,
        state=TaskState.UNKNOWN,
        error_code="NOT_FOUND",
        error_message="The Gemini API does not know this operation (wrong name, another "
        "project's key, or expired).",
        checked_at=checked_at,
    )


def gemini_videos(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The video URIs of a done operation, and the result holding any filter counts."""
    result = (body.get("response") or {}).get("generateVideoResponse") or {}
    samples = result.get("generatedSamples") or []
    uris = [
        s["video"]["uri"]
        for s in samples
        if isinstance(s, dict) and isinstance(s.get("video"), dict) and s["video"].get("uri")
    ]
    return uris, result


def status_of(
    body: dict[str, Any],
    task_id: str,
    checked_at: datetime,
    progress: int,
    provider: str = PROVIDER,
    videos: Callable[[dict[str, Any]], tuple[list[str], dict[str, Any]]] = gemini_videos,
) -> TaskStatus:
    """The TaskStatus of operation `body`; a done operation without a video is FAILED."""
    base: dict[str, Any] = {"provider": provider, "task_id": task_id, "checked_at": checked_at}
    if not body.get("done"):
        return TaskStatus(**base, state=TaskState.PROCESSING, progress=progress, raw=body)
    error = body.get("error")
    if isinstance(error, dict):
        return TaskStatus(
            **base,
            state=TaskState.FAILED,
            error_code=str(error.get("status") or error.get("code") or "UNKNOWN"),
            error_message=str(error.get("message") or "no message"),
            finished_at=checked_at,
            raw=body,
        )
    uris, result = videos(body)
    if uris:
        return TaskStatus(
            **base,
            state=TaskState.COMPLETED,
            progress=100,
            video_url=uris[0],
            finished_at=checked_at,
            raw=body,
        )
    filtered = result.get("raiMediaFilteredCount")
    reasons = [str(r) for r in result.get("raiMediaFilteredReasons") or []]
    if filtered or reasons:
        why = "; ".join(reasons) or "no reason given"
        return TaskStatus(
            **base,
            state=TaskState.FAILED,
            error_code="RAI_FILTERED",
            error_message=f"Google's safety filters removed the video ({why}). Rephrase the "
            "prompt or change the images.",
            finished_at=checked_at,
            raw=body,
        )
    return TaskStatus(
        **base,
        state=TaskState.FAILED,
        error_code="NO_VIDEO",
        error_message="The operation finished without a video or an error.",
        finished_at=checked_at,
        raw=body,
    )
