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

import base64
import binascii
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

from . import catalog, interactions, wire
from .inputs import image_inputs
from .settings import GoogleSettings, VeoSettings

log = logging.getLogger("videoprovider.google")

# httpx exceptions raised before a request's first byte left this machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Inline videos (base64 in a status reply) are served to the download client in-process from
# this never-resolving host; the newest few are kept, an older one is fetched again.
INLINE_HOST = "https://inline.google.videoprovider.invalid"
MAX_INLINE_KEPT = 8
# An 8-second video as base64 in JSON is several MB: far above the 4 MiB API default.
MAX_INLINE_REPLY = 256 * 1024 * 1024
T = TypeVar("T")


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


class VeoProvider:
    """What the Gemini API and Vertex AI share: Veo operations, submit, status and url."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {
        Operation.CANCEL: "Google documents no cancel for Veo operations.",
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
        self._inline: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    # -- what differs between the Gemini API and Vertex AI (see vertex.py) ----------------

    service = "the Gemini API"
    catalogue: ClassVar[catalog.Catalogue] = catalog.GEMINI
    operation_names: ClassVar[re.Pattern[str]] = wire.OPERATION

    async def _auth_headers(self) -> dict[str, str]:
        """Per-request credentials; the Gemini API key is a default header of the client."""
        return {}

    def _submit_path(self, model: catalog.VeoModel) -> str:
        if model.protocol == "interactions":
            return "/interactions"
        return f"/models/{model.id}:predictLongRunning"

    async def _images(self, request: VideoRequest) -> dict[str, Any]:
        return await image_inputs(
            request.image_url, request.last_frame_url, request.reference_urls, self.local_service
        )

    async def _body(self, request: VideoRequest, model: catalog.VeoModel) -> dict[str, Any]:
        images = await self._images(request)
        if model.protocol == "interactions":
            listed = [images["image"]] if "image" in images else []
            listed += [ref["image"] for ref in images.get("referenceImages", [])]
            return interactions.request_body(request, model.id, listed)
        return wire.request_body(request, images)

    def _parse_submit(
        self, response: httpx.Response, request: VideoRequest, model: catalog.VeoModel
    ) -> Task:
        now, name = self.context.clock.now(), self.context.name
        if model.protocol == "interactions":
            return interactions.parse_submit(response, request, now, name)
        return wire.parse_submit(response, request, now, name, self.operation_names)

    async def _fetch(self, task_id: str) -> httpx.Response:
        if interactions.is_interaction(task_id):
            path = interactions.path(task_id, "status", self.context.name)
        else:
            path = wire.operation_path(task_id, "status")
        # An interaction's video may come inline, as base64 in the reply.
        return await send_bounded(self._http, "GET", path, max_bytes=MAX_INLINE_REPLY)

    def _parse_status(self, response: httpx.Response, task_id: str) -> TaskStatus:
        now, name, progress = self.context.clock.now(), self.context.name, self._progress(task_id)
        if interactions.is_interaction(task_id):
            return interactions.parse_status(
                response, task_id, now, progress, name, self._keep_inline
            )
        body = wire.parse_operation(response, "status", task_id, name, self.operation_names)
        return wire.status_of(body, task_id, now, progress, name)

    # -- inline videos: served from memory to the download client ------------------------

    def _keep_inline(self, key: str, encoded: str) -> str:
        """Keep the base64 video `encoded` for its download; the URL it is served at."""
        try:
            self._inline[key] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(
                f"The inline video of {key} is not valid base64.",
                provider=self.context.name,
                operation="status",
            ) from None
        while len(self._inline) > MAX_INLINE_KEPT:
            self._inline.pop(next(iter(self._inline)))
        return f"{INLINE_HOST}/{key}.mp4"

    @hookimpl
    def videoprovider_http_mounts(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {INLINE_HOST: httpx.MockTransport(self._serve_inline)}

    def _serve_inline(self, request: httpx.Request) -> httpx.Response:
        data = self._inline.get(request.url.path.removeprefix("/").removesuffix(".mp4"))
        if data is None:
            return httpx.Response(404, text="this process holds no such inline video")
        return httpx.Response(200, content=data, headers={"Content-Type": "video/mp4"})

    async def _sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await self.context.clock.sleep(self._backoff.delay(attempt, retry_after))

    # -- submit ---------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        model = self.catalogue.model_of(request, self.settings.model)
        self.catalogue.check(request, model)
        body = await self._body(request, model)
        path = self._submit_path(model)
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
                task = self._parse_submit(response, request, model)
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
        status = self._parse_status(response, task_id)
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
