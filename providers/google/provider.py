"""The Google Veo provider's hooks on the Gemini API: HTTP calls, retries, the key's scope.

Submit is retried only when the request provably never reached the server (no connection)
or was refused with 429. After anything that may have started an operation (a read timeout,
a dropped connection, a 5xx, an unreadable reply) it raises SubmitOutcomeUnknown carrying the
request: predictLongRunning takes no idempotency key, so a resend may pay for a second video.
Polls are safe to repeat and are retried on network errors, 429 and 5xx (only outside the
client's scheduler, see `single_attempt`). The API key goes on API requests and on downloads
from the API's own origin, never to another host (`videoprovider_download_headers`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx

from videoprovider._version import __version__
from videoprovider.apiclient import api_client, describe, is_loopback, send_bounded
from videoprovider.backoff import Backoff
from videoprovider.catalog import ModelInfo
from videoprovider.errors import (
    ProtocolError,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
)
from videoprovider.hookspecs import hookimpl
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest
from videoprovider.provider import Operation, ProviderContext, ProviderSettings, single_attempt

from . import catalog, wire
from .inputs import image_inputs
from .settings import GoogleSettings, VeoSettings

log = logging.getLogger("videoprovider.google")

# httpx exceptions raised before a request's first byte left this machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
T = TypeVar("T")


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


class GoogleProvider:
    """Veo video models on the Gemini API (generativelanguage.googleapis.com)."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {
        Operation.CANCEL: "The Gemini API documents no cancel for video operations; a "
        "started Veo generation runs to its end.",
    }
    Settings: ClassVar[type[ProviderSettings]] = GoogleSettings
    # Veo takes from about 11 seconds to 6 minutes [veo-guide]; polls are cheap GETs, but the
    # documented samples poll every 10 s, and the quota of the status call is not published.
    typical_task_seconds: ClassVar[float] = 90.0
    status_rate_limit: ClassVar[float] = 1.0
    models: ClassVar[tuple[ModelInfo, ...]] = tuple(m.info() for m in catalog.GEMINI_MODELS)

    def __init__(self, settings: GoogleSettings, context: ProviderContext) -> None:
        self._key = {"x-goog-api-key": settings.api_key.get_secret_value()}
        self._setup(settings, context, settings.base_url, self._key)

    def _setup(
        self,
        settings: VeoSettings,
        context: ProviderContext,
        base_url: str,
        headers: Mapping[str, str],
    ) -> None:
        self.settings = settings
        self.context = context
        self.local_service = is_loopback(httpx.URL(base_url).host)
        self._origin = origin(base_url)
        self._base_url = base_url
        headers = {
            **headers,
            "Accept": "application/json",
            "User-Agent": f"videoprovider-google/{__version__} {context.user_agent}",
        }
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._http = api_client(context, base_url=base_url, headers=headers, timeout=timeout)
        self._backoff = Backoff(floor=0.5, ceiling=8.0)
        # When each operation of this process was submitted: the service gives no progress,
        # so it is estimated from the age (an operation from another process shows none).
        self._submitted: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    # -- what differs between the Gemini API and Vertex AI (see vertex.py) ----------------

    service = "the Gemini API"
    catalogue: ClassVar[catalog.Catalogue] = catalog.GEMINI
    operation_names: ClassVar[re.Pattern[str]] = wire.OPERATION

    async def _auth_headers(self) -> dict[str, str]:
        """Per-request credentials; the Gemini API key is a default header of the client."""
        return {}

    def _submit_path(self, model: str) -> str:
        return f"/models/{model}:predictLongRunning"

    async def _body(self, request: VideoRequest) -> dict[str, Any]:
        images = await image_inputs(
            request.image_url, request.last_frame_url, request.reference_urls, self.local_service
        )
        return wire.request_body(request, images)

    async def _fetch(self, task_id: str) -> httpx.Response:
        path = wire.operation_path(task_id, "status")
        return await send_bounded(self._http, "GET", path)

    def _status_of(self, body: dict[str, Any], task_id: str) -> TaskStatus:
        now = self.context.clock.now()
        return wire.status_of(body, task_id, now, self._progress(task_id), self.context.name)

    async def _sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await self.context.clock.sleep(self._backoff.delay(attempt, retry_after))

    # -- submit ---------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        model = self.catalogue.model_of(request, self.settings.model)
        self.catalogue.check(request, model)
        body = await self._body(request)
        path = self._submit_path(model.id)
        where: dict[str, Any] = {"provider": self.context.name, "operation": "submit"}
        attempt = 0
        while True:
            try:
                headers = await self._auth_headers()
                response = await send_bounded(self._http, "POST", path, json=body, headers=headers)
            except NOT_SENT as exc:
                if attempt >= self.settings.submit_retries:
                    raise ProviderUnavailable(
                        f"Could not connect to {self.service} at {self._base_url}: "
                        f"{describe(exc)}. Nothing was submitted.",
                        **where,
                    ) from exc
                log.info("submit: no connection (%s); retrying, nothing was sent", exc)
                await self._sleep(attempt)
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise SubmitOutcomeUnknown(
                    f"The submit reached {self.service} but no usable reply came back "
                    f"({describe(exc)}); it was not resent.",
                    request=request,
                    **where,
                ) from exc
            if response.status_code == 429 and attempt < self.settings.submit_retries:
                # RESOURCE_EXHAUSTED is a refusal: no operation was started.
                await self._sleep(attempt, wire.retry_after(response))
                attempt += 1
                continue
            if response.status_code >= 500:
                raise SubmitOutcomeUnknown(
                    f"{self.service} answered the submit with HTTP {response.status_code} "
                    "after receiving it; the operation may exist. It was not resent.",
                    request=request,
                    http_status=response.status_code,
                    **where,
                )
            if response.status_code != 200:
                raise wire.error_for(response, "submit", None, self.context.name)
            try:
                now = self.context.clock.now()
                task = wire.parse_submit(
                    response, request, now, self.context.name, self.operation_names
                )
            except ProtocolError as exc:
                raise SubmitOutcomeUnknown(
                    f"{exc.message} The operation may exist; it was not resent.",
                    request=request,
                    http_status=response.status_code,
                    **where,
                ) from exc
            self._submitted[task.task_id] = self.context.clock.monotonic()
            log.info("submitted operation %s (model %s)", task.task_id, model.id)
            return task

    # -- status, url ----------------------------------------------------------------------

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        retries = 0 if single_attempt.get() else self.settings.max_retries
        return await self._repeatable(retries, lambda: self._status_once(task_id))

    async def _repeatable(self, retries: int, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except (RateLimited, ProviderUnavailable, ProtocolError) as exc:
                if attempt >= retries:
                    raise
                log.info("status: %s; retrying", exc.message)
                await self._sleep(attempt, getattr(exc, "retry_after", None))
                attempt += 1

    def _progress(self, task_id: str) -> int:
        started = self._submitted.get(task_id)
        if started is None:
            return -1
        age = self.context.clock.monotonic() - started
        return min(95, int(100 * age / (2 * self.typical_task_seconds)))

    async def _status_once(self, task_id: str) -> TaskStatus:
        try:
            response = await self._fetch(task_id)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Calling {self.service} (status) failed: {describe(exc)}.",
                provider=self.context.name,
                operation="status",
                task_id=task_id,
            ) from exc
        if response.status_code == 404:
            return wire.unknown_status(task_id, self.context.clock.now(), self.context.name)
        if response.status_code != 200:
            raise wire.error_for(response, "status", task_id, self.context.name)
        body = wire.parse_operation(
            response, "status", task_id, self.context.name, self.operation_names
        )
        status = self._status_of(body, task_id)
        if status.state.is_terminal:
            self._submitted.pop(task_id, None)
        return status

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        status = await self.videoprovider_status(task_id)
        where: dict[str, Any] = {
            "provider": self.context.name,
            "operation": "url",
            "task_id": task_id,
        }
        if status.state is TaskState.COMPLETED and status.video_url:
            return status.video_url
        if status.state is TaskState.UNKNOWN:
            raise TaskNotFound(f"{status.error_message} Operation {task_id} has no video.", **where)
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Operation {task_id} {status.error_code}: {status.error_message}",
                status=status,
                code=status.error_code,
                **where,
            )
        raise TaskNotReady(f"Operation {task_id} is still running; it has no video yet.", **where)

    # -- downloads ------------------------------------------------------------------------

    @hookimpl
    def videoprovider_download_headers(self, url: str) -> Mapping[str, str] | None:
        # Result URIs are files of the API (`.../files/<id>:download?alt=media`) served only
        # with the key [veo-guide]; any other origin, or a redirect to one, gets nothing.
        try:
            same = origin(url) == self._origin
        except httpx.InvalidURL:
            return None
        return self._key if same else None

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        await self._http.aclose()
