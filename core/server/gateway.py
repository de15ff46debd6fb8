"""What the gateway does with a video: submit it once, track it, keep its file, forget it.

One `AsyncVideoClient` per provider and process, each on the task journal: the journal keeps
every paid task, the store (store.py) keeps what OpenAI's video object says about it. The
trackers that follow each video to its end live in tracking.py; a restart re-attaches one
to every open video.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.responses import Response

from .. import errors as e
from ..client import AsyncVideoClient
from ..clock import Clock
from ..config import Config
from ..journal import worker_id
from ..models import VideoRequest
from ..provider import Operation
from ..refs import installed_provider_names
from ..spending import period_start
from ..usage import ProviderUsage
from .callbacks import Callbacks, check_callback_url
from .callers import Caller
from .errors import ApiError, from_provider_error, not_found
from .requests import Asked, to_request, with_first_frame
from .settings import ServerSettings
from .storage import Storage, StorageError, open_storage
from .store import OPEN, Store, VideoRow, now_ms
from .tracking import Tracking

__all__ = ["Gateway"]

log = logging.getLogger(__name__)


class Gateway(Tracking):
    """The clients, the store and the trackers of one gateway process."""

    def __init__(
        self,
        config: Config,
        settings: ServerSettings,
        store: Store,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        callbacks: Callbacks | None = None,
        plugins: tuple[object, ...] = (),
    ) -> None:
        self.config = config
        self._plugins = plugins
        self.callbacks = callbacks
        self.settings = settings
        self.store = store
        self.clock = clock
        self._transport = transport
        self._clients: dict[str, AsyncVideoClient] = {}
        self._trackers: dict[str, asyncio.Task[None]] = {}
        self.storage: Storage = open_storage(settings.storage_location(), settings.spool_path())
        self._changed: dict[str, asyncio.Event] = {}
        self.owner = worker_id()
        self._ttl = settings.lease_seconds
        self._sweeper: asyncio.Task[None] | None = None

    # -- clients, one per provider ----------------------------------------------------------

    def client(self, provider: str) -> AsyncVideoClient:
        if provider not in self._clients:
            self._clients[provider] = AsyncVideoClient(
                provider,
                config=self.config.file or False,
                environ=self.config.environ,
                clock=self.clock,
                transport=self._transport,
                journal=True,
                plugins=self._plugins,
            )
        return self._clients[provider]

    def usage(self) -> list[ProviderUsage]:
        """What every client's providers were sent, and their request budgets in use."""
        return [used for client in self._clients.values() for used in client.usage()]

    def resolve_model(self, asked: str | None) -> tuple[str, str, str]:
        """(provider, model, as asked) for a request's `model`: an alias or provider/model."""
        name = asked or self.settings.default_model
        target = self.settings.models.get(name, name)
        provider, sep, model = target.partition("/")
        installed = installed_provider_names()
        if not sep or not model or provider not in installed:
            aliases = ", ".join(sorted(self.settings.models)) or "none configured"
            raise ApiError(
                400,
                f'model {name!r} is neither "<provider>/<model>" with an installed provider '
                f"({', '.join(sorted(installed))}) nor an alias ({aliases}); "
                'e.g. "fake/fake-1".',
                param="model",
                code="model_not_found",
                retry=False,
            )
        return provider, model, name

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Pick up every open video (after a restart or a kill) and drop expired files; then
        look again every half lease for videos whose process has gone."""
        await self.storage.prepare()
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="gateway sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        trackers = list(self._trackers.values())
        for tracker in trackers:
            tracker.cancel()
        for tracker in trackers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tracker
        if self.callbacks is not None:
            await self.callbacks.stop()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        log.info("gateway stopped; %d open videos resume at the next start", len(trackers))

    # -- create ---------------------------------------------------------------------------

    async def create(
        self, caller: Caller, asked: Asked, idempotency_key: str | None, upload: Path | None
    ) -> VideoRow:
        """Submit what a /v1/videos create asked for; `upload` is its checked first frame."""
        provider, model, name = self.resolve_model(asked.model)
        caller.check_model(provider, model, name)
        request = to_request(asked, model)
        where = None if upload is None else str(upload)
        return await self.submit(
            caller,
            provider,
            name,
            request,
            idempotency_key,
            asked.size,
            where,
            callback_url=asked.callback_url,
        )

    async def submit(
        self,
        caller: Caller,
        provider: str,
        name: str,
        request: VideoRequest,
        idempotency_key: str | None,
        size: str | None = None,
        upload: str | None = None,
        max_cost: str | None = None,
        callback_url: str | None = None,
    ) -> VideoRow:
        """Submit `request` to `provider` once per (caller, idempotency key), under the
        caller's spending cap; `upload` is the caller's stored first frame."""
        callback_url = check_callback_url(callback_url or caller.callback_url, self.settings)
        if upload is not None:
            request = with_first_frame(request, Path(upload))
        client = self.client(provider)
        client.capabilities  # noqa: B018 - loads and checks the provider first
        estimate = client.estimate(request)
        now = now_ms(self.clock)
        row = VideoRow(
            id=f"video_{uuid.uuid4().hex}",
            caller=caller.name,
            provider=provider,
            task_id=None,
            model=name,
            seconds=str(request.duration) if request.duration else "",
            size=size or (request.size or "").replace("*", "x"),
            prompt=request.prompt,
            status="submitting",
            progress=0,
            created_ms=now,
            idempotency_key=idempotency_key,
            cost_currency=estimate.currency,
            cost_estimate=None if estimate.amount is None else str(estimate.amount),
            request_json=request.model_dump_json(exclude={"image_url"} if upload else set()),
            callback_url=callback_url,
            lease_owner=self.owner,
            lease_expires_ms=now + int(self._ttl * 1000),
        )
        stored = self.store.add(row, partial(self._check_spend, caller, estimate))
        if stored.id != row.id:
            if json.loads(stored.request_json) != json.loads(row.request_json):
                raise ApiError(
                    409,
                    "This Idempotency-Key was used for a different request; use a new key.",
                    param="Idempotency-Key",
                    code="idempotency_key_reused",
                    retry=False,
                )
            return stored
        try:
            task = await client.submit(request, max_cost=max_cost)
        except e.SubmitOutcomeUnknown as exc:
            self._update(
                row, status="failed", error_code="submit_outcome_unknown", error_message=exc.message
            )
            raise
        except BaseException:
            # Nothing was accepted: the same Idempotency-Key may try again.
            self.store.delete(row.id)
            raise
        self._update(row, task_id=task.task_id, status="queued", progress=0)
        self.track(row)
        return row

    def _check_spend(self, caller: Caller, estimate: Any) -> None:
        cap = caller.spend_cap()
        if cap is None:
            return
        check = cap.within(estimate, self.clock.now(), allow_unknown=False)
        if check is None:
            return

        def spent(since: Any, currency: str) -> Any:
            return self.store.spent(caller.name, int(since.timestamp() * 1000), currency)

        try:
            check(spent)
        except e.RequestRejected as exc:
            start = period_start(self.clock.now(), cap.period)
            length = {"hour": 1, "day": 24, "week": 24 * 7, "month": 24 * 31}[cap.period]
            wait = (start + timedelta(hours=length) - self.clock.now()).total_seconds()
            raise ApiError(
                429,
                f"{exc.message} (the limit of key {caller.name!r})",
                type="insufficient_quota",
                param="max_spend",
                code="spend_limit_exceeded",
                retry_after=wait,
                retry=False,
            ) from None

    # -- reading and deleting -------------------------------------------------------------

    def get(self, caller: Caller, video_id: str) -> VideoRow:
        row = self.store.get(video_id, caller.name)
        if row is None:
            raise not_found(video_id)
        return row

    async def content(self, caller: Caller, video_id: str) -> Response:
        """The stored video as a response honouring Range (storage.py)."""
        row = self.get(caller, video_id)
        if row.status != "completed":
            raise ApiError(
                409 if row.status in OPEN else 400,
                f"Video {video_id} is {row.status}; its content exists once it is completed.",
                param="video_id",
                code="video_not_ready",
                retry=False,
            )
        response = None
        if row.path and (row.expires_ms or 0) > now_ms(self.clock):
            try:
                response = await self.storage.response(row.path, f"{video_id}.mp4")
            except StorageError as exc:
                log.warning("%s", exc)
                raise ApiError(
                    503,
                    f"The stored file of video {video_id} cannot be read right now; try again.",
                    type="server_error",
                    code="storage_unavailable",
                    retry_after=10,
                ) from None
        if response is None:
            await self.sweep_expired()
            raise ApiError(
                404,
                f"The stored file of video {video_id} has expired (kept "
                f"{self.settings.retention_hours:g} h).",
                param="video_id",
                code="video_expired",
            )
        return response

    async def delete(self, caller: Caller, video_id: str) -> None:
        row = self.get(caller, video_id)
        if row.status in OPEN and row.task_id is not None:
            client = self.client(row.provider)
            if Operation.CANCEL not in client.capabilities:
                raise ApiError(
                    409,
                    f"Video {video_id} is still {row.status} and provider {row.provider!r} "
                    "cannot cancel tasks; it was kept. Delete it once it has ended.",
                    param="video_id",
                    code="cancel_unsupported",
                    retry=False,
                )
            tracker = self._trackers.get(row.id)
            try:
                await client.cancel(f"{row.provider}:{row.task_id}")
            except e.RequestRejected:
                pass  # it ended meanwhile: nothing left to stop
            except e.VideoProviderError as exc:
                raise from_provider_error(exc) from None
            if tracker is not None:
                tracker.cancel()
        await self._remove(row)

    async def _remove(self, row: VideoRow) -> None:
        if row.path:
            try:
                await self.storage.remove(row.path)
            except StorageError as exc:
                log.warning("%s", exc)
                raise ApiError(
                    503,
                    f"The stored file of video {row.id} could not be deleted; the "
                    "video was kept. Try again.",
                    type="server_error",
                    code="storage_unavailable",
                    retry_after=10,
                ) from None
        # A download not stored yet (a store being retried) goes with its video.
        self.storage.download_target(row.id).unlink(missing_ok=True)
        self.store.delete(row.id)
        self._notify(row.id)
