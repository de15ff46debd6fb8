"""The DashScope provider's hooks: HTTP calls, retries and the duplicate-safety rules.

Submit is retried only when the request provably never reached the server (no connection)
or was refused with 429. After anything that may have created a task (a read timeout, a
dropped connection, a 5xx) it raises SubmitOutcomeUnknown carrying the request: DashScope has
no idempotency key, so a blind resubmit pays for a duplicate video. (The official SDK's v2
client resubmits on 5xx [protocol notes §10]; we do not.) Status polls are safe to repeat and
are retried on network errors, 429 and 5xx.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from videoprovider._version import __version__
from videoprovider.apiclient import api_client, describe, is_loopback, parse_json, send_bounded
from videoprovider.backoff import Backoff
from videoprovider.catalog import ModelInfo
from videoprovider.download import redact_url
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
from videoprovider.models import (
    Task,
    TaskPage,
    TaskState,
    TaskStatus,
    VideoRequest,
    WebhookDelivery,
)
from videoprovider.prices import Price
from videoprovider.provider import Operation, ProviderContext, ProviderSettings, single_attempt

from . import task_pages, wire
from .catalog import model_infos
from .events import check_token, read_event
from .prices import PRICES
from .request import PromptTruncatedWarning, Submit, UnknownModelWarning, build_submit
from .settings import DashScopeSettings
from .signatures import EventBridgeSignatures, trusted_cas
from .upload import (
    OSS_RESOLVE_HEADER,
    LocalFile,
    Uploader,
    local_file,
    media_fields,
    replace_strings,
    strings_in,
)

log = logging.getLogger("videoprovider.dashscope")

# httpx exceptions raised before a request's first byte left this machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
TASK_ID = wire.TASK_ID


class DashScopeProvider:
    """Alibaba Cloud Model Studio (DashScope) Wan video models."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {
        Operation.CANCEL: "DashScope can only dequeue a task that is still PENDING and cannot "
        "stop a running one, so videoprovider does not offer cancel; let the task finish or "
        "ignore it."
    }
    Settings: ClassVar[type[ProviderSettings]] = DashScopeSettings
    # For the client's poll scheduler: "usually 1-5 minutes" [DOC], and task queries are
    # limited to 20 per second per account [DOC manage-async].
    typical_task_seconds: ClassVar[float] = 120.0
    status_rate_limit: ClassVar[float] = 20.0
    models: ClassVar[tuple[ModelInfo, ...]] = model_infos()
    prices: ClassVar[tuple[Price, ...]] = PRICES

    def __init__(self, settings: DashScopeSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        self.api_root = settings.api_root()
        # The emulator serves its videos from loopback; the client then allows loopback
        # downloads for this provider (and no others).
        self.local_service = is_loopback(httpx.URL(self.api_root).host)
        # Prices differ by region (USD in Singapore, CNY in Beijing): those of the region
        # this instance sends to apply.
        self.price_region = settings.serving_region()
        # With completion events configured, polls are only the safety net for a lost event
        # (read by the core as `Declaration.pushes_updates`).
        self.pushes_updates = settings.events_token is not None
        headers = {
            "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
            "Accept": "application/json",
            "User-Agent": f"videoprovider-dashscope/{__version__} {context.user_agent}",
        }
        if settings.workspace_id:
            headers["X-DashScope-WorkSpace"] = settings.workspace_id
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        # Eight connections carry the account's 20 task queries per second with room for
        # submits; httpx's own transport, so the environment's proxies and CAs apply.
        self._http = api_client(
            context, base_url=self.api_root, headers=headers, timeout=timeout, max_connections=8
        )
        # Local files go to the storage host an upload policy names: never with the key.
        self._storage = api_client(
            context,
            base_url="",
            headers={"User-Agent": headers["User-Agent"]},
            timeout=timeout,
            max_connections=2,
        )
        self._backoff = Backoff(floor=0.5, ceiling=8.0)
        self._signatures = (
            EventBridgeSignatures(
                self._storage, settings.events_url, trusted_cas(settings.events_ca_file)
            )
            if settings.events_url
            else None
        )

    def __repr__(self) -> str:
        return f"DashScopeProvider(api_root={redact_url(self.api_root)!r})"

    async def _sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await self.context.clock.sleep(self._backoff.delay(attempt, retry_after))

    # -- submit ---------------------------------------------------------------------------

    def _build(self, request: VideoRequest) -> Submit:
        return build_submit(
            request,
            default_model=self.settings.model,
            truncate_prompt=self.settings.truncate_prompt,
            region=self.settings.serving_region(),
        )

    @hookimpl
    def videoprovider_check_request(self, request: VideoRequest) -> None:
        with warnings.catch_warnings():
            # Said once, by the submit that sends it; an estimate sends nothing.
            warnings.simplefilter("ignore", UnknownModelWarning)
            warnings.simplefilter("ignore", PromptTruncatedWarning)
            self._build(request)

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        submit = self._build(request)
        # [DOC] HTTP supports only async calls; the header is mandatory on submit.
        headers = {"X-DashScope-Async": "enable", "Content-Type": "application/json"}
        body = await self._with_uploads(request, submit.body, headers)
        attempt = 0
        while True:
            try:
                response = await send_bounded(
                    self._http, "POST", submit.path, json=body, headers=headers
                )
            except NOT_SENT as exc:
                if attempt >= self.settings.submit_retries:
                    raise ProviderUnavailable(
                        f"Could not connect to DashScope at {self.api_root}: "
                        f"{describe(exc)}. Nothing was submitted.",
                        provider="dashscope",
                        operation="submit",
                    ) from exc
                log.info(
                    "submit: no connection (%s); retrying, nothing was sent", type(exc).__name__
                )
                await self._sleep(attempt)
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise SubmitOutcomeUnknown(
                    f"The submit reached DashScope but no usable reply came back "
                    f"({describe(exc)}); it was not resent.",
                    request=request,
                    provider="dashscope",
                    operation="submit",
                ) from exc
            if response.status_code == 429 and attempt < self.settings.submit_retries:
                # A 429 is a refusal: no task was created, so trying again is safe.
                await self._sleep(attempt, wire.retry_after(response))
                attempt += 1
                continue
            if response.status_code >= 500:
                err = wire.error_for(response, "submit") if _is_json(response) else None
                raise SubmitOutcomeUnknown(
                    f"DashScope answered the submit with HTTP {response.status_code} after "
                    "receiving it; the task may exist. It was not resent.",
                    request=request,
                    provider="dashscope",
                    operation="submit",
                    http_status=response.status_code,
                    code=err.code if err else None,
                    request_id=err.request_id if err else None,
                )
            if response.status_code != 200:
                raise wire.error_for(response, "submit")
            try:
                task = wire.parse_submit(response, request, self.context.clock.now())
            except ProtocolError as exc:
                raise SubmitOutcomeUnknown(
                    f"{exc.message} The task may exist; it was not resent.",
                    request=request,
                    provider="dashscope",
                    operation="submit",
                    http_status=response.status_code,
                ) from exc
            log.info("submitted task %s (model %s)", task.task_id, submit.body["model"])
            return task

    async def _with_uploads(
        self, request: VideoRequest, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """`body` with every local media file uploaded and named by its `oss://` URL.

        All files are checked before the first upload, so a bad one costs no request.
        """
        opened: list[LocalFile] = []  # every file checked, kept open until it is uploaded
        files: dict[str | Path, LocalFile] = {}
        try:
            for field, value, kinds in media_fields(request):
                if (found := local_file(value, field, kinds)) is not None:
                    opened.append(found)
                    files.setdefault(value, found)
            uploaded: dict[str | Path, str] = {}
            if files:
                uploader = Uploader(self._http, self._storage, str(body["model"]))
                for value, file in files.items():
                    uploaded[value] = await uploader.upload(file)
                    log.info("uploaded %s for %s", file.path, file.field)
        finally:
            for file in opened:
                file.close()
        body = replace_strings(body, uploaded)
        if any(url.startswith("oss://") for url in strings_in(body.get("input"))):
            headers.update(OSS_RESOLVE_HEADER)
        return body

    # -- status and url -------------------------------------------------------------------

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        retries = 0 if single_attempt.get() else self.settings.max_retries
        attempt = 0
        while True:
            try:
                return await self._status_once(task_id)
            except (RateLimited, ProviderUnavailable, ProtocolError) as exc:
                if attempt >= retries:
                    raise
                log.info("status of %s: %s; retrying", task_id, exc.message)
                await self._sleep(attempt, getattr(exc, "retry_after", None))
                attempt += 1

    async def _status_once(self, task_id: str) -> TaskStatus:
        check_task_id(task_id, "status")
        try:
            # An absolute URL spares httpx a second URL parse to join it with base_url:
            # polls are the hot path when thousands of tasks are tracked.
            path = quote(task_id, safe="")
            response = await send_bounded(
                self._http, "GET", httpx.URL(f"{self.api_root}/tasks/{path}")
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Polling DashScope failed: {describe(exc)}.",
                provider="dashscope",
                operation="status",
                task_id=task_id,
            ) from exc
        if response.status_code != 200:
            raise wire.error_for(response, "status", task_id)
        status = wire.parse_status(response, task_id, self.context.clock.now())
        if status.video_url:
            log.debug("task %s completed: %s", task_id, redact_url(status.video_url))
        return status

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        status = await self.videoprovider_status(task_id)
        where: dict[str, Any] = {"provider": "dashscope", "operation": "url", "task_id": task_id}
        if status.state is TaskState.COMPLETED and status.video_url:
            return status.video_url
        if status.state is TaskState.UNKNOWN:
            raise TaskNotFound(f"DashScope does not know task {task_id} (or it expired).", **where)
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Task {task_id} failed ({status.error_code}: "
                f"{status.error_message}); it has no video.",
                status=status,
                code=status.error_code,
                **where,
            )
        raise TaskNotReady(f"Task {task_id} is {status.state.value}; it has no video yet.", **where)

    @hookimpl
    async def videoprovider_list_tasks(
        self, since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
    ) -> TaskPage:
        # [SDK base_api.py list] GET /tasks with page_no/page_size, a window of at most 24
        # hours and one `status`: finished tasks are listed as the SUCCEEDED pages, then the
        # FAILED ones, and the page token says which of them comes next.
        status, page_no = task_pages.parse_token(page, finished)
        params: dict[str, Any] = {
            "start_time": wire.list_window(since),
            "end_time": wire.list_window(until),
            "page_size": task_pages.PAGE_SIZE,
            "page_no": page_no,
        }
        if model:
            params["model_name"] = model
        if status:
            params["status"] = status
        try:
            response = await send_bounded(self._http, "GET", "/tasks", params=params)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Listing DashScope tasks failed: {describe(exc)}.",
                provider="dashscope",
                operation="list",
            ) from exc
        if response.status_code != 200:
            raise wire.error_for(response, "list")
        rows, pages = wire.parse_task_page(response, self.context.clock.now())
        return TaskPage(statuses=rows, next_page=task_pages.next_token(status, page_no, pages))

    @hookimpl
    async def videoprovider_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        """A task-finished event pushed by EventBridge (events.py): a notice, no result."""
        now = self.context.clock.now()
        check_token(headers, self.settings)  # before a signature check may fetch anything
        if self._signatures is not None:
            await self._signatures.verify(headers, body, now)
        delivery = read_event(headers, body, self.settings, now)
        log.info(
            "event %s: task %s is %s",
            delivery.id,
            delivery.status.task_id,
            delivery.status.state.value,
        )
        return delivery

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        await self._http.aclose()


def check_task_id(task_id: str, operation: str) -> None:
    """Refuse, before any request, an id DashScope could not have issued."""
    if not TASK_ID.fullmatch(task_id):
        raise TaskNotFound(
            f"{task_id[:100]!r} is not a DashScope task id: DashScope issues ids of letters, "
            "digits and hyphens (a UUID such as 0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2).",
            hint="Pass the task_id that submit returned; nothing was sent.",
            provider="dashscope",
            operation=operation,
            task_id=task_id,
        )


def _is_json(response: httpx.Response) -> bool:
    try:
        parse_json(response.content)
    except ValueError:
        return False
    return True
