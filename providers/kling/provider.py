"""The Kling provider's hooks: signed requests, submits found again by their own id, polls.

Every submit carries an `external_task_id`, the client-chosen id the core journals before the
request leaves (`recoverable_submits`). When a create's reply is lost (a dropped connection,
a timeout, a 5xx, a garbled reply) the create is not resent blindly: the task is asked for by
that id, and only when Kling answers that it has no such task is the create sent again, with
the same id. If Kling cannot be asked either, the submit raises SubmitOutcomeUnknown and the
journal entry is recovered later by `tasks resume` / `tasks reconcile`.
"""

from __future__ import annotations

import logging
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
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
    VideoProviderError,
)
from videoprovider.hookspecs import hookimpl
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest, WebhookDelivery
from videoprovider.prices import Price
from videoprovider.provider import Operation, ProviderContext, ProviderSettings, single_attempt

from . import wire
from .auth import bearer
from .callbacks import CallbackReader
from .catalog import Kind, model_infos
from .request import EXTERNAL_ID, build_create, kind_of
from .settings import KlingSettings

log = logging.getLogger("videoprovider.kling")

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
T = TypeVar("T")


def sent_external_id(kind: Kind, chosen: str) -> str:
    """The external_task_id as sent: the kind in front, so a callback names its query path."""
    return f"{kind.value}-{chosen}"


class KlingProvider:
    """Kling (Kuaishou) text-to-video, image-to-video and multi-image-to-video."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {
        Operation.CANCEL: "Kling's API has no call to cancel a video task; it runs to its end."
    }
    Settings: ClassVar[type[ProviderSettings]] = KlingSettings
    # Kling limits concurrent tasks per resource pack, not queries per second [rate-limits].
    typical_task_seconds: ClassVar[float] = 180.0
    models: ClassVar[tuple[ModelInfo, ...]] = model_infos()
    # Kling sells packs of units; no dated official price per video or second was found
    # (docs/providers/kling.md#prices), so estimates are unknown unless the config has one.
    prices: ClassVar[tuple[Price, ...]] = ()
    recoverable_submits: ClassVar[str] = EXTERNAL_ID

    def __init__(self, settings: KlingSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        self.local_service = is_loopback(httpx.URL(settings.base_url).host)
        self.pushes_updates = settings.callback_url is not None
        self._signer = bearer(
            settings.api_key,
            settings.access_key,
            settings.secret_key,
            context.clock,
            settings.jwt_lifetime,
        )
        headers = {
            "Accept": "application/json",
            "User-Agent": f"videoprovider-kling/{__version__} {context.user_agent}",
        }
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._http = api_client(
            context, base_url=settings.base_url, headers=headers, timeout=timeout
        )
        self._backoff = Backoff(floor=0.5, ceiling=8.0)
        self._callbacks = CallbackReader(context.clock)

    def __repr__(self) -> str:
        return f"KlingProvider(base_url={self.settings.base_url!r})"

    async def _sleep(self, attempt: int, retry_after: float | None = None) -> None:
        await self.context.clock.sleep(self._backoff.delay(attempt, retry_after))

    def _raw(self, method: str, path: str, **kwargs: Any) -> Awaitable[httpx.Response]:
        auth = {"Authorization": self._signer.authorization()}
        return send_bounded(self._http, method, path, headers=auth, **kwargs)

    async def _get(self, path: str, operation: str, task_id: str | None) -> httpx.Response:
        try:
            return await self._raw("GET", path)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Calling Kling ({operation}) failed: {describe(exc)}.",
                provider=wire.PROVIDER,
                operation=operation,
                task_id=task_id,
            ) from exc

    async def _repeatable(self, what: str, retries: int, call: Callable[[], Awaitable[T]]) -> T:
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

    # -- submit ---------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        kind, body = build_create(request, self.settings.model, self.settings.callback_url)
        chosen = body.get(EXTERNAL_ID)
        if isinstance(chosen, str):
            body[EXTERNAL_ID] = sent_external_id(kind, chosen)
        path = f"/v1/videos/{kind.path}"
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "submit"}
        attempt = resends = 0
        while True:
            lost: str | None = None
            try:
                response = await self._raw("POST", path, json=body)
            except NOT_SENT as exc:
                if attempt >= self.settings.submit_retries:
                    raise ProviderUnavailable(
                        f"Could not connect to Kling at {self.settings.base_url}: "
                        f"{describe(exc)}. Nothing was submitted.",
                        **where,
                    ) from exc
                await self._sleep(attempt)
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                lost = f"no usable reply came back ({describe(exc)})"
            else:
                code = wire.code_of(_json_or_none(response))
                if code in (1302, 1303) and attempt < self.settings.submit_retries:
                    # A refusal for rate or concurrency created nothing: trying later is safe.
                    await self._sleep(attempt, wire.retry_after(response, code))
                    attempt += 1
                    continue
                if response.status_code >= 500:
                    lost = f"Kling answered HTTP {response.status_code}"
                elif response.status_code != 200 or code != 0:
                    error = wire.error_for(response, "submit")
                    if resends and isinstance(error, RequestRejected):
                        # A resend refused, perhaps for its id: the first create may have
                        # landed after all. Only the query can say.
                        found = await self._find_after_loss(request, kind, body, str(error))
                        if found is not None:
                            return found
                    raise error
                else:
                    try:
                        return self._accepted(response, request, kind)
                    except ProtocolError as exc:
                        lost = exc.message
            found = await self._find_after_loss(request, kind, body, lost)
            if found is not None:
                return found
            if resends >= self.settings.submit_retries:
                raise SubmitOutcomeUnknown(
                    f"The submit reached Kling but {lost}; Kling has no task with its "
                    f"external_task_id yet, and it was resent {resends} times.",
                    request=request,
                    **where,
                )
            log.info("submit: %s; Kling has no such task, resending with the same id", lost)
            resends += 1

    async def _find_after_loss(
        self, request: VideoRequest, kind: Kind, body: dict[str, Any], lost: str
    ) -> Task | None:
        external = body.get(EXTERNAL_ID)
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "submit"}
        if not isinstance(external, str):
            raise SubmitOutcomeUnknown(
                f"The submit reached Kling but {lost}; it carried no external_task_id to find "
                "it by, so it was not resent.",
                request=request,
                **where,
            )
        try:
            found = await self._find(kind, external, request)
        except VideoProviderError as exc:
            # Whatever stopped the query (even a refused token), the create may have landed.
            raise SubmitOutcomeUnknown(
                f"The submit reached Kling but {lost}, and asking for it by its "
                f"external_task_id failed too ({exc.message}); it was not resent. "
                "`videoprovider tasks resume` finds it again by that id.",
                request=request,
                **where,
            ) from exc
        if found is not None:
            log.info("submit: %s; found task %s by its external_task_id", lost, found.task_id)
        return found

    def _accepted(self, response: httpx.Response, request: VideoRequest, kind: Kind) -> Task:
        doc = wire.body_of(response, "submit")
        data = wire.data_of(doc, response, "submit", None)
        service_id = data.get("task_id")
        if not isinstance(service_id, str) or not wire.is_external_id(service_id):
            raise ProtocolError(
                f"Kling accepted the submit but sent no usable task_id: {service_id!r}.",
                provider=wire.PROVIDER,
                operation="submit",
            )
        return self._task_of(data, kind, doc, request)

    async def _find(self, kind: Kind, external: str, request: VideoRequest) -> Task | None:
        """The task Kling holds under `external`; None when it says it has none."""
        if not wire.is_external_id(external):
            raise ProtocolError(f"{external!r} cannot be queried.", provider=wire.PROVIDER)
        response = await self._get(wire.query_path(kind, external), "recover", None)
        doc = _json_or_none(response)
        code = wire.code_of(doc)
        if response.status_code == 404 or code in wire.NO_SUCH_TASK_CODES:
            return None
        if response.status_code != 200 or code != 0:
            raise wire.error_for(response, "recover")
        data = wire.data_of(doc, response, "recover", None)
        said = (data.get("task_info") or {}).get("external_task_id")
        if said not in (None, external):
            raise ProtocolError(
                f"Kling answered the query for external_task_id {external!r} with a task of "
                f"{said!r}.",
                provider=wire.PROVIDER,
                operation="recover",
            )
        return self._task_of(data, kind, doc, request)

    def _task_of(self, data: Any, kind: Kind, doc: Any, request: VideoRequest) -> Task:
        now = self.context.clock.now()
        status = wire.status_of(data, kind, now, doc.get("request_id"))
        return Task(
            provider=wire.PROVIDER,
            task_id=status.task_id,
            request=request,
            submitted_at=status.submitted_at or now,
            request_id=status.request_id,
        )

    @hookimpl
    async def videoprovider_recover_submit(self, request: VideoRequest) -> Task | None:
        chosen = request.extra.get(EXTERNAL_ID)
        if not isinstance(chosen, str) or not chosen:
            raise RequestRejected(
                "This request carries no external_task_id to find its task by.",
                field=EXTERNAL_ID,
                provider=wire.PROVIDER,
                operation="recover",
            )
        kind = kind_of(request)
        return await self._find(kind, sent_external_id(kind, chosen), request)

    # -- status and url -------------------------------------------------------------------

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        ref = wire.split_ref(task_id)
        if ref is None:
            return wire.unknown(
                task_id,
                self.context.clock.now(),
                "Not a Kling task reference: it is the kind and Kling's id, such as "
                "t2v-867283741759111202 (kinds t2v, i2v, mi2v).",
            )
        retries = 0 if single_attempt.get() else self.settings.max_retries
        return await self._repeatable(
            f"status of {task_id}", retries, lambda: self._status_once(task_id, *ref)
        )

    async def _status_once(self, task_id: str, kind: Kind, service_id: str) -> TaskStatus:
        response = await self._get(wire.query_path(kind, service_id), "status", task_id)
        now = self.context.clock.now()
        doc = _json_or_none(response)
        code = wire.code_of(doc)
        if response.status_code == 404 or code in wire.NO_SUCH_TASK_CODES:
            return wire.unknown(task_id, now, "Kling does not know this task (id or account).")
        if response.status_code != 200 or code != 0:
            raise wire.error_for(response, "status", task_id)
        data = wire.data_of(doc, response, "status", task_id)
        if data.get("task_id") != service_id:
            raise ProtocolError(
                f"Kling answered the query for {service_id} with task {data.get('task_id')!r}.",
                provider=wire.PROVIDER,
                operation="status",
                task_id=task_id,
            )
        return wire.status_of(data, kind, now, doc.get("request_id"))

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        status = await self.videoprovider_status(task_id)
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "url", "task_id": task_id}
        if status.state is TaskState.COMPLETED and status.video_url:
            return status.video_url
        if status.state is TaskState.UNKNOWN:
            raise TaskNotFound(f"{status.error_message} Task {task_id} has no video.", **where)
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Task {task_id} failed: {status.error_message}; it has no video.",
                status=status,
                code=status.error_code,
                **where,
            )
        raise TaskNotReady(f"Task {task_id} is {status.state.value}; it has no video yet.", **where)

    # -- callbacks ------------------------------------------------------------------------

    @hookimpl
    async def videoprovider_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        return self._callbacks.read(body)

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        await self._http.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None
