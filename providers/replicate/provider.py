"""The Replicate provider's hooks: HTTP calls, retries and the duplicate-safety rules.

Submit is retried only when the request provably never reached the server (no connection)
or was refused with 429. After anything that may have created a prediction (a read timeout,
a dropped connection, a 5xx, an unreadable reply) it raises SubmitOutcomeUnknown carrying the
request: Replicate's create call takes no idempotency key, so a resend may pay for a second
video. Polls, cancels and schema reads are safe to repeat and are retried on network errors,
429 and 5xx (polls only outside the client's scheduler, see `single_attempt`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx

from videoprovider._version import __version__
from videoprovider.apiclient import api_client, describe, is_loopback, send_bounded
from videoprovider.backoff import Backoff
from videoprovider.catalog import ModelInfo, ModelKind
from videoprovider.download import redact_url
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
    VideoProviderError,
    WebhookRejected,
)
from videoprovider.hookspecs import hookimpl
from videoprovider.models import (
    Task,
    TaskPage,
    TaskState,
    TaskStatus,
    VideoRequest,
    WebhookDelivery,
)
from videoprovider.provider import Operation, ProviderContext, ProviderSettings, single_attempt

from . import task_pages, wire
from .inputs import build_input
from .schemas import ModelSchema, SchemaCache
from .settings import ReplicateSettings
from .webhooks import WebhookVerificationError, check_headers, signing_key, verify_webhook

log = logging.getLogger("videoprovider.replicate")

# httpx exceptions raised before a request's first byte left this machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
T = TypeVar("T")


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("videoprovider")) / "replicate-schemas"


class ReplicateProvider:
    """Text-to-video models on Replicate (replicate.com)."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL, Operation.CANCEL}
    )
    Settings: ClassVar[type[ProviderSettings]] = ReplicateSettings
    # For the client's poll scheduler: video models run for one to a few minutes, and every
    # endpoint but create is limited to 3000 requests per minute [rate-limits].
    typical_task_seconds: ClassVar[float] = 120.0
    status_rate_limit: ClassVar[float] = 50.0
    # Any Replicate model works (its own schema is checked before a submit); this is the
    # default one, the model docs/providers/replicate.md explains.
    models: ClassVar[tuple[ModelInfo, ...]] = (
        ModelInfo(
            id="wan-video/wan-2.5-t2v",
            kind=ModelKind.TEXT_TO_VIDEO,
            description="The default; any owner/name[:version] is accepted and checked "
            "against the model's own input schema.",
        ),
    )

    def __init__(self, settings: ReplicateSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        # The emulator serves its outputs from loopback; the client then allows loopback
        # downloads for this provider (and no others).
        self.local_service = is_loopback(httpx.URL(settings.base_url).host)
        # Replicate calls the host on every update, so the client may poll only as a safety
        # net (read by the core as `Declaration.pushes_updates`).
        self.pushes_updates = settings.webhook_url is not None
        secret = settings.webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret else None
        self._secret_lock = asyncio.Lock()
        self._secret_failures = 0
        self._secret_retry_at = 0.0  # clock seconds before which no fetch is tried again
        self._secret_backoff = Backoff(floor=1.0, ceiling=300.0)
        headers = {
            "Authorization": f"Bearer {settings.api_token.get_secret_value()}",
            "Accept": "application/json",
            "User-Agent": f"videoprovider-replicate/{__version__} {context.user_agent}",
        }
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._http = api_client(
            context, base_url=settings.base_url, headers=headers, timeout=timeout
        )
        self._backoff = Backoff(floor=0.5, ceiling=8.0)
        where = settings.schema_cache_dir
        directory = default_cache_dir() if where is None else (Path(where) if where else None)
        self.schemas = SchemaCache(directory, settings.schema_ttl)

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={redact_url(self.settings.base_url)!r})"

    async def _sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await self.context.clock.sleep(self._backoff.delay(attempt, retry_after))

    async def _repeatable(self, what: str, retries: int, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, repeated on transient failures: only for requests safe to resend."""
        attempt = 0
        while True:
            try:
                return await call()
            except (RateLimited, ProviderUnavailable, ProtocolError) as exc:
                if attempt >= retries:
                    raise
                log.info("%s: %s; retrying", what, exc.message)
                await self._sleep(attempt, getattr(exc, "retry_after", None))
                attempt += 1

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        task_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await send_bounded(self._http, method, path, params=params)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Calling Replicate ({operation}) failed: {describe(exc)}.",
                provider=wire.PROVIDER,
                operation=operation,
                task_id=task_id,
            ) from exc

    # -- model schemas --------------------------------------------------------------------

    async def schema_of(self, ref: wire.ModelRef) -> ModelSchema:
        """The input schema of `ref`, from the cache or with one request."""
        key, now = str(ref), self.context.clock.now().timestamp()
        cached = self.schemas.get(key, now, pinned=ref.version is not None)
        if cached is not None:
            return cached
        schema = await self._repeatable(
            f"schema of {key}", self.settings.max_retries, lambda: self._fetch_schema(ref)
        )
        self.schemas.put(key, schema, now)
        return schema

    async def _fetch_schema(self, ref: wire.ModelRef) -> ModelSchema:
        path = ref.model_path + (f"/versions/{ref.version}" if ref.version else "")
        response = await self._send("GET", path, "schema")
        if response.status_code != 200:
            raise wire.error_for(response, "schema")
        body = wire.json_body(response, "schema")
        version = body if ref.version else (body or {}).get("latest_version")
        if not isinstance(version, dict) or not isinstance(version.get("openapi_schema"), dict):
            raise RequestRejected(
                f"Replicate model {ref} has no published version with an input schema.",
                field="model",
                hint="Pick a model that can be run through the API.",
                provider=wire.PROVIDER,
                operation="submit",
            )
        return ModelSchema.from_openapi(version.get("id"), version["openapi_schema"])

    # -- submit ---------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        ref = wire.parse_model(request.model or self.settings.model)
        schema = await self.schema_of(ref)
        body: dict[str, Any] = {"input": build_input(request, schema, str(ref))}
        if ref.version:
            path, body["version"] = "/predictions", ref.version
        else:
            path = f"{ref.model_path}/predictions"
        if self.settings.webhook_url:
            body["webhook"] = self.settings.webhook_url
            body["webhook_events_filter"] = list(self.settings.webhook_events)
        attempt = 0
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "submit"}
        while True:
            try:
                response = await send_bounded(self._http, "POST", path, json=body)
            except NOT_SENT as exc:
                if attempt >= self.settings.submit_retries:
                    raise ProviderUnavailable(
                        f"Could not connect to Replicate at {self.settings.base_url}: "
                        f"{describe(exc)}. Nothing was submitted.",
                        **where,
                    ) from exc
                log.info("submit: no connection (%s); retrying, nothing was sent", exc)
                await self._sleep(attempt)
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise SubmitOutcomeUnknown(
                    f"The submit reached Replicate but no usable reply came back "
                    f"({describe(exc)}); it was not resent.",
                    request=request,
                    **where,
                ) from exc
            if response.status_code == 429 and attempt < self.settings.submit_retries:
                # A 429 is a refusal: no prediction was created, so trying again is safe.
                await self._sleep(attempt, wire.retry_after(response))
                attempt += 1
                continue
            if response.status_code >= 500:
                raise SubmitOutcomeUnknown(
                    f"Replicate answered the submit with HTTP {response.status_code} after "
                    "receiving it; the prediction may exist. It was not resent.",
                    request=request,
                    http_status=response.status_code,
                    **where,
                )
            if response.status_code not in (200, 201, 202):
                raise wire.error_for(response, "submit")
            try:
                task = wire.parse_submit(response, request, self.context.clock.now())
            except ProtocolError as exc:
                raise SubmitOutcomeUnknown(
                    f"{exc.message} The prediction may exist; it was not resent.",
                    request=request,
                    http_status=response.status_code,
                    **where,
                ) from exc
            log.info("submitted prediction %s (model %s)", task.task_id, ref)
            return task

    # -- status, url, cancel --------------------------------------------------------------

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        path = wire.prediction_path(task_id, "status")
        retries = 0 if single_attempt.get() else self.settings.max_retries
        return await self._repeatable(
            f"status of {task_id}", retries, lambda: self._status_once(task_id, path)
        )

    async def _status_once(self, task_id: str, path: str) -> TaskStatus:
        response = await self._send("GET", path, "status", task_id)
        now = self.context.clock.now()
        if response.status_code == 404:
            return wire.unknown_status(
                task_id, now, "Replicate does not know this prediction (wrong id or account)."
            )
        if response.status_code != 200:
            raise wire.error_for(response, "status", task_id)
        status = wire.parse_status(response, task_id, now)
        if status.video_url:
            log.debug("prediction %s succeeded: %s", task_id, redact_url(status.video_url))
        return status

    @hookimpl
    async def videoprovider_cancel(self, task_id: str) -> TaskStatus:
        path = wire.prediction_path(task_id, "cancel", "/cancel")

        async def once() -> TaskStatus:
            response = await self._send("POST", path, "cancel", task_id)
            if response.status_code != 200:
                raise wire.error_for(response, "cancel", task_id)
            # The reply is the prediction: "canceled", or the final state of one that had
            # already finished, which is reported as it is rather than as an error.
            return wire.parse_status(response, task_id, self.context.clock.now(), "cancel")

        return await self._repeatable(f"cancel of {task_id}", self.settings.max_retries, once)

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        status = await self.videoprovider_status(task_id)
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "url", "task_id": task_id}
        if status.state is TaskState.COMPLETED and status.video_url:
            return status.video_url
        if status.state is TaskState.UNKNOWN:
            why = status.error_message or "Replicate does not know this prediction."
            raise TaskNotFound(f"{why} Prediction {task_id} has no video.", **where)
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Prediction {task_id} {status.error_code}: {status.error_message}; "
                "it has no video.",
                status=status,
                code=status.error_code,
                **where,
            )
        if status.state is TaskState.CANCELED:
            raise TaskCanceled(f"Prediction {task_id} was canceled; it has no video.", **where)
        raise TaskNotReady(
            f"Prediction {task_id} is {status.state.value}; it has no video yet.", **where
        )

    # -- listing --------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_list_tasks(
        self, since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
    ) -> TaskPage:
        # One request, never retried here (the caller counts it against the budget). The
        # listing cannot filter by status, so `finished` asks nothing of it: the page holds
        # every state, and the caller ignores the running ones.
        ref = wire.parse_model(model, "list") if model else None
        params = task_pages.query(since, until, page)
        response = await self._send("GET", "/predictions", "list", params=params)
        if response.status_code != 200:
            raise wire.error_for(response, "list")
        rows, cursor = task_pages.parse_page(response, since, until, ref, self.context.clock.now())
        return TaskPage(statuses=rows, next_page=cursor)

    # -- webhooks -------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "webhook"}
        now = self.context.clock.now()
        try:
            # Headers and timestamp first: a stranger's unsigned POST must not make this
            # process spend an authenticated request on fetching the secret.
            check_headers(headers, now=now.timestamp())
            verify_webhook(body, headers, await self._signing_secret(), now=now.timestamp())
        except WebhookVerificationError as exc:
            log.warning("refused a Replicate webhook delivery: %s", exc)
            raise WebhookRejected(
                f"Refused a Replicate webhook delivery: {exc}.",
                http_status=exc.http_status,
                **where,
            ) from None
        try:
            status = wire.parse_delivery(body, now)
        except ProtocolError as exc:
            raise WebhookRejected(exc.message, http_status=400, **where) from None
        delivery_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        log.info("webhook %s: prediction %s is %s", delivery_id, status.task_id, status.state.value)
        return WebhookDelivery(id=delivery_id, status=status)

    async def _signing_secret(self) -> str:
        """The `whsec_` key: configured, or fetched from Replicate at first use and kept
        [webhooks]. One request at a time, and after a failed one none until its backoff
        has passed: deliveries meanwhile are refused (ProviderUnavailable: answer 503, the
        sender retries), so no number of deliveries costs more than one fetch per backoff."""
        if self._webhook_secret is not None:
            return self._webhook_secret
        if not self.settings.webhook_url:
            raise WebhookRejected(
                "Replicate webhooks are not configured here, so this delivery cannot be verified.",
                hint="Set webhook_url (and optionally webhook_secret) in [replicate].",
                http_status=404,
                provider=wire.PROVIDER,
                operation="webhook",
            )
        async with self._secret_lock:
            if self._webhook_secret is not None:
                return self._webhook_secret
            now = self.context.clock.now().timestamp()
            if now < self._secret_retry_at:
                raise ProviderUnavailable(
                    "Replicate's webhook signing secret is not known yet (fetching it failed; "
                    f"the next try is in {self._secret_retry_at - now:.0f} s), so this "
                    "delivery cannot be verified.",
                    hint="The sender retries it; or set webhook_secret in [replicate].",
                    provider=wire.PROVIDER,
                    operation="webhook",
                )
            try:
                self._webhook_secret = await self._fetch_secret()
            except VideoProviderError as exc:  # a refused token too: no fetch per delivery
                asked = getattr(exc, "retry_after", None)
                wait = self._secret_backoff.delay(self._secret_failures, asked)
                self._secret_failures += 1
                self._secret_retry_at = now + wait
                raise
            return self._webhook_secret

    async def _fetch_secret(self) -> str:
        response = await self._send("GET", "/webhooks/default/secret", "webhook")
        if response.status_code != 200:
            raise wire.error_for(response, "webhook")
        doc = wire.json_body(response, "webhook")
        key = doc.get("key") if isinstance(doc, dict) else None
        if isinstance(key, str):
            try:
                signing_key(key)
                return key
            except WebhookVerificationError:
                pass
        raise ProtocolError(
            "Replicate's GET /webhooks/default/secret reply holds no whsec_ key.",
            provider=wire.PROVIDER,
            operation="webhook",
            http_status=response.status_code,
        )

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        await self._http.aclose()
