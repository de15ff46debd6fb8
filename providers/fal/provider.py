"""The fal provider's hooks: queue calls, retries, the submit rule, and where the key may go.

The key (`Authorization: Key ...`) goes only to the configured queue origin: status, status
stream, result and cancel URLs are built from `base_url` and the task id, never taken from a
reply, so a reply naming another host cannot draw the key there. Schemas and webhook keys are
public and read without it; result videos on fal's CDN are downloaded by the core, without it
too.

Submit is retried only when the request provably never reached the server (no connection)
or was refused with 429; after anything that may have queued a request it raises
SubmitOutcomeUnknown (fal-client retries submits on transport errors: we do not).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from httpx_sse import aconnect_sse

from videoprovider._version import __version__
from videoprovider.apiclient import api_client, describe, is_loopback, send_bounded
from videoprovider.backoff import Backoff
from videoprovider.errors import (
    ProtocolError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskCanceled,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
    WebhookRejected,
)
from videoprovider.hookspecs import hookimpl
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest, WebhookDelivery
from videoprovider.provider import Operation, ProviderContext, ProviderSettings, single_attempt

from . import wire
from .catalog import MODELS
from .inputs import build_input
from .prices import PRICES
from .schemas import InputSchema, SchemaCache
from .settings import FalSettings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger("videoprovider.fal")

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# After a delivery no cached key verifies, the keys may have rotated: fetch them again, but
# at most this often, so forged deliveries cannot make us hammer the JWKS URL.
JWKS_MIN_REFETCH = 60.0
# Request ids of this process's webhook submits, for deliveries (which name no endpoint).
MAX_REMEMBERED = 100_000
# Open status streams at most (the core's `watch_streams` caps them first, 16 by default).
STREAM_CONNECTIONS = 64
T = TypeVar("T")


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("videoprovider")) / "fal-schemas"


class FalProvider:
    """Video endpoints on fal.ai's queue (Kling, Veo, Wan, Hailuo, LTX and any other)."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL, Operation.CANCEL}
    )
    Settings: ClassVar[type[ProviderSettings]] = FalSettings
    typical_task_seconds: ClassVar[float] = 120.0
    # fal publishes no status-rate limit; ten a second stays far below anything that
    # throttles (our choice, docs/providers/fal.md).
    status_rate_limit: ClassVar[float] = 10.0
    models: ClassVar[tuple[Any, ...]] = MODELS
    prices: ClassVar[tuple[Any, ...]] = PRICES
    # Waited requests follow fal's status stream: one request instead of a poll per change.
    status_stream: ClassVar[bool] = True

    def __init__(self, settings: FalSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        self.local_service = is_loopback(httpx.URL(settings.base_url).host)
        self.pushes_updates = settings.webhook_url is not None
        agent = f"videoprovider-fal/{__version__} {context.user_agent}"
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._http = api_client(
            context,
            base_url=settings.base_url,
            headers={
                "Authorization": f"Key {settings.api_key.get_secret_value()}",
                "Accept": "application/json",
                "User-Agent": agent,
            },
            timeout=timeout,
        )
        # Status streams stay open for minutes: connections of their own, so they never
        # hold up the polls and submits queued on `_http`'s few. The same origin and key.
        self._streams = api_client(
            context,
            base_url=settings.base_url,
            headers={
                "Authorization": f"Key {settings.api_key.get_secret_value()}",
                "User-Agent": agent,
            },
            timeout=timeout,
            max_connections=STREAM_CONNECTIONS,
        )
        # Public documents (schemas, webhook keys): a client that has no key to leak.
        self._public = api_client(
            context, base_url="", headers={"User-Agent": agent}, timeout=timeout
        )
        self._backoff = Backoff(floor=0.5, ceiling=8.0)
        where = settings.schema_cache_dir
        directory = default_cache_dir() if where is None else (Path(where) if where else None)
        self.schemas = SchemaCache(directory, settings.schema_ttl)
        # request id → owner/app, for deliveries (whose body names only the request).
        self._apps: dict[str, str] = {}
        self._keys: list[Ed25519PublicKey] = []
        self._keys_at: float | None = None
        self._keys_tried: float | None = None
        self._keys_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"FalProvider(base_url={self.settings.base_url!r})"

    async def _repeatable(self, what: str, retries: int, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except (RateLimited, ProviderUnavailable, ProtocolError) as exc:
                if attempt >= retries:
                    raise
                log.info("%s: %s; retrying", what, exc.message)
                delay = self._backoff.delay(attempt, getattr(exc, "retry_after", None))
                await self.context.clock.sleep(delay)
                attempt += 1

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        task_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            return await send_bounded(self._http, method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Calling fal ({operation}) failed: {describe(exc)}.",
                provider=wire.PROVIDER,
                operation=operation,
                task_id=task_id,
            ) from exc

    async def _public_json(self, url: str, operation: str, **params: str) -> Any:
        try:
            response = await send_bounded(self._public, "GET", url, params=params)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Reading {url} ({operation}) failed: {describe(exc)}.",
                provider=wire.PROVIDER,
                operation=operation,
            ) from exc
        if response.status_code != 200:
            raise wire.error_for(response, operation)
        return wire.json_body(response, operation)

    # -- schemas --------------------------------------------------------------------------

    async def schema_of(self, endpoint: wire.Endpoint) -> InputSchema:
        now = self.context.clock.now().timestamp()
        cached = self.schemas.get(endpoint.id, now)
        if cached is not None:
            return cached

        def unknown(why: str) -> RequestRejected:
            return RequestRejected(
                f"{why} {endpoint.id}.",
                field="model",
                hint="Check the endpoint id on fal.ai/models.",
                provider=wire.PROVIDER,
                operation="submit",
            )

        async def fetch() -> InputSchema:
            doc = await self._public_json(
                self.settings.schema_url, "schema", endpoint_id=endpoint.id
            )
            schema = InputSchema.from_openapi(endpoint.id, doc)
            if schema is None:
                raise unknown("fal publishes no input schema for")
            return schema

        try:
            schema = await self._repeatable(
                f"schema of {endpoint.id}", self.settings.max_retries, fetch
            )
        except TaskNotFound as exc:  # a 404 from the schema service: no such endpoint
            raise unknown("fal knows no endpoint") from exc
        self.schemas.put(endpoint.id, schema, now)
        return schema

    # -- submit ---------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        endpoint = wire.parse_endpoint(request.model or self.settings.model)
        body = build_input(request, await self.schema_of(endpoint), endpoint.id)
        path = "/" + "/".join(quote(p, safe="") for p in endpoint.id.split("/"))
        params: dict[str, str] = {}
        if self.settings.webhook_url:
            params["fal_webhook"] = self.settings.webhook_url
            await self._fresh_keys(force=False)
        headers = {"X-Fal-Queue-Priority": self.settings.priority} if self.settings.priority else {}
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "submit"}
        attempt = 0
        while True:
            try:
                response = await send_bounded(
                    self._http, "POST", path, json=body, params=params, headers=headers
                )
            except NOT_SENT as exc:
                if attempt >= self.settings.submit_retries:
                    raise ProviderUnavailable(
                        f"Could not connect to fal at {self.settings.base_url}: "
                        f"{describe(exc)}. Nothing was submitted.",
                        **where,
                    ) from exc
                await self.context.clock.sleep(self._backoff.delay(attempt))
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise SubmitOutcomeUnknown(
                    f"The submit reached fal but no usable reply came back ({describe(exc)}); "
                    "it was not resent.",
                    request=request,
                    **where,
                ) from exc
            if response.status_code == 429 and attempt < self.settings.submit_retries:
                # A refusal: nothing was queued, so trying again is safe.
                await self.context.clock.sleep(
                    self._backoff.delay(attempt, wire.retry_after(response))
                )
                attempt += 1
                continue
            if response.status_code >= 500:
                raise SubmitOutcomeUnknown(
                    f"fal answered the submit with HTTP {response.status_code} after receiving "
                    "it; the request may be queued. It was not resent.",
                    request=request,
                    http_status=response.status_code,
                    **where,
                )
            if response.status_code not in (200, 201, 202):
                raise wire.error_for(response, "submit")
            return self._accepted(response, request, endpoint)

    def _accepted(
        self, response: httpx.Response, request: VideoRequest, endpoint: wire.Endpoint
    ) -> Task:
        try:
            doc = wire.json_body(response, "submit")
            request_id = doc.get("request_id") if isinstance(doc, dict) else None
            ref = wire.task_ref(f"{endpoint.app}:{request_id}", "submit")
        except (ProtocolError, TaskNotFound) as exc:
            raise SubmitOutcomeUnknown(
                f"fal accepted the submit (HTTP {response.status_code}) but its reply names no "
                "request id; the request may be queued. It was not resent.",
                request=request,
                http_status=response.status_code,
                provider=wire.PROVIDER,
                operation="submit",
            ) from exc
        origin = httpx.URL(self.settings.base_url)
        for name in ("status_url", "response_url", "cancel_url"):
            given = doc.get(name)
            if isinstance(given, str) and httpx.URL(given).netloc != origin.netloc:
                # Never followed: the key stays on the configured origin.
                log.info("fal's %s is on another host; using %s instead", name, origin.host)
        if self.settings.webhook_url:
            self._apps[ref.request_id] = ref.app
        if len(self._apps) > MAX_REMEMBERED:  # forget the oldest: dicts keep insertion order
            del self._apps[next(iter(self._apps))]
        log.info("submitted request %s (endpoint %s)", ref, endpoint.id)
        return Task(
            provider=wire.PROVIDER,
            task_id=str(ref),
            request=request,
            submitted_at=self.context.clock.now(),
        )

    # -- status, url, cancel --------------------------------------------------------------

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        ref = wire.task_ref(task_id, "status")
        retries = 0 if single_attempt.get() else self.settings.max_retries
        return await self._repeatable(f"status of {ref}", retries, lambda: self._status(ref))

    async def _status(self, ref: wire.TaskRef) -> TaskStatus:
        response = await self._send(
            "GET", ref.path("/status"), "status", str(ref), params={"logs": "1"}
        )
        now = self.context.clock.now()
        if response.status_code == 404:
            return wire.unknown(ref, now, "fal does not know this request (wrong id or account).")
        if response.status_code not in (200, 202):
            raise wire.error_for(response, "status", str(ref))
        status = wire.queue_status(wire.json_body(response, "status", str(ref)), ref, now)
        if status is not None:
            return status
        return await self._outcome(ref)

    async def _outcome(self, ref: wire.TaskRef) -> TaskStatus:
        """A COMPLETED request's outcome, from its result: a video, the failure, or gone."""
        result = await self._send("GET", ref.path(), "status", str(ref))
        if result.status_code == 429 or result.status_code >= 500:
            raise wire.error_for(result, "status", str(ref))
        if result.status_code == 404:
            why = "fal no longer has this request's result (wrong account, or it expired)."
            return wire.unknown(ref, self.context.clock.now(), why)
        return wire.result_status(result, ref, self.context.clock.now())

    @hookimpl
    async def videoprovider_watch(self, task_id: str) -> AsyncIterator[TaskStatus]:
        """The request's status stream [status-stream]: the status JSON as server-sent
        events until COMPLETED, whose outcome is then read from the result as a poll does."""
        ref = wire.task_ref(task_id, "watch")
        path = ref.path("/status/stream")
        try:
            async with aconnect_sse(self._streams, "GET", path, params={"logs": "1"}) as source:
                if source.response.status_code != 200:
                    raise await wire.stream_error(source.response, str(ref))
                async for event in source.aiter_sse():
                    if not event.data:
                        continue
                    now = self.context.clock.now()
                    doc = wire.event_json(event.data, str(ref))
                    status = wire.queue_status(doc, ref, now)
                    if status is None:
                        yield await self._outcome(ref)
                        return
                    yield status
        except httpx.HTTPError as exc:  # httpx_sse.SSEError too: not an event stream
            raise ProviderUnavailable(
                f"fal's status stream of {ref} broke: {describe(exc)}.",
                provider=wire.PROVIDER,
                operation="watch",
                task_id=str(ref),
            ) from exc

    @hookimpl
    async def videoprovider_cancel(self, task_id: str) -> TaskStatus:
        ref = wire.task_ref(task_id, "cancel")

        async def once() -> TaskStatus:
            response = await self._send("PUT", ref.path("/cancel"), "cancel", str(ref))
            try:
                said = str(response.json().get("status", "")).upper()
            except (ValueError, AttributeError):
                said = ""
            now = self.context.clock.now()
            if said == "OK" or (said == "" and response.status_code in (200, 202)):
                return wire.canceled(ref, now, {"status": "OK"})
            if said == "CANCELLATION_REQUESTED":
                # Running: the runner was told to stop and the app decides how [cancel]; what
                # it did shows in the next status.
                return await self._status(ref)
            if said == "ALREADY_COMPLETED":
                return await self._status(ref)
            if said == "NOT_FOUND" or response.status_code == 404:
                raise TaskNotFound(
                    f"fal does not know request {ref}; nothing was canceled.",
                    provider=wire.PROVIDER,
                    operation="cancel",
                    task_id=str(ref),
                )
            raise wire.error_for(response, "cancel", str(ref))

        return await self._repeatable(f"cancel of {ref}", self.settings.max_retries, once)

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        status = await self.videoprovider_status(task_id)
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "url", "task_id": task_id}
        if status.state is TaskState.COMPLETED and status.video_url:
            return status.video_url
        if status.state is TaskState.UNKNOWN:
            raise TaskNotFound(f"{status.error_message} Request {task_id} has no video.", **where)
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Request {task_id} failed: {status.error_message}; it has no video.",
                status=status,
                code=status.error_code,
                **where,
            )
        if status.state is TaskState.CANCELED:
            raise TaskCanceled(f"Request {task_id} was canceled; it has no video.", **where)
        raise TaskNotReady(f"Request {task_id} is {status.state.value}; no video yet.", **where)

    # -- webhooks -------------------------------------------------------------------------

    async def _fresh_keys(self, *, force: bool) -> list[Ed25519PublicKey]:
        """The JWKS keys: kept `jwks_refresh` seconds; `force` (no key verified a delivery)
        refetches at most once a minute. Never one fetch per delivery."""
        from .webhooks import keys_from_jwks

        async with self._keys_lock:
            now = self.context.clock.monotonic()
            fresh = self._keys_at is not None and now - self._keys_at < self.settings.jwks_refresh
            recent = self._keys_tried is not None and now - self._keys_tried < JWKS_MIN_REFETCH
            if (fresh and not force) or recent:
                return self._keys
            self._keys_tried = now
            try:
                doc = await self._public_json(self.settings.jwks_url, "webhook")
            except (ProviderUnavailable, ProtocolError, RateLimited, TaskNotFound) as exc:
                log.warning("could not read fal's webhook keys: %s", exc.message)
                return self._keys
            keys = keys_from_jwks(doc)
            if keys:
                self._keys, self._keys_at = keys, now
            return self._keys

    @hookimpl
    async def videoprovider_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        import json

        from .webhooks import NoKeySigned, WebhookVerificationError, verify_webhook

        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "webhook"}
        now = self.context.clock.now()
        try:
            keys = await self._fresh_keys(force=False)
            try:
                request_id = verify_webhook(body, headers, keys, now=now.timestamp())
            except NoKeySigned:
                # Perhaps rotated keys: one refetch (rate-limited), then a second try.
                keys = await self._fresh_keys(force=True)
                request_id = verify_webhook(body, headers, keys, now=now.timestamp())
        except WebhookVerificationError as exc:
            log.warning("refused a fal webhook delivery: %s", exc)
            raise WebhookRejected(
                f"Refused a fal webhook delivery: {exc}.", http_status=exc.http_status, **where
            ) from None
        try:
            doc: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc = None
        named = doc.get("request_id") if isinstance(doc, dict) else None
        if named != request_id:
            raise WebhookRejected(
                "The fal webhook body names another request than its signed headers.",
                http_status=400,
                **where,
            )
        app = self._apps.get(request_id) or wire.parse_endpoint(self.settings.model).app
        try:
            ref = wire.task_ref(f"{app}:{request_id}", "webhook")
            status = wire.delivery_status(doc, ref, now)
        except (ProtocolError, TaskNotFound) as exc:
            raise WebhookRejected(exc.message, http_status=400, **where) from None
        stamp = {k.lower(): v for k, v in headers.items()}.get("x-fal-webhook-timestamp", "")
        log.info("webhook: request %s is %s", ref, status.state.value)
        return WebhookDelivery(id=f"{request_id}@{stamp}", status=status)

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        await self._http.aclose()
        await self._streams.aclose()
        await self._public.aclose()
