"""What the gateway does with a video: submit it once, track it, keep its file, forget it.

One `AsyncVideoClient` per provider and process, each on the task journal: the journal keeps
every paid task, the store (store.py) keeps what OpenAI's video object says about it. A
tracker per open video waits on the client (so a thousand callers polling the gateway cost
the provider nothing) and downloads the video the moment it is ready, before the
provider's signed URL runs out. A restart re-attaches a tracker to every open video.
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

from .. import errors as e
from ..client import AsyncVideoClient
from ..clock import Clock
from ..config import Config
from ..journal import worker_id
from ..models import TaskState, TaskStatus, VideoRequest
from ..provider import Operation
from ..refs import installed_provider_names
from ..spending import period_start
from .callbacks import Callbacks, check_callback_url
from .callers import Caller
from .errors import ApiError, from_provider_error, not_found
from .requests import Asked, to_request
from .settings import ServerSettings
from .store import OPEN, Store, VideoRow

__all__ = ["Gateway"]

log = logging.getLogger(__name__)
DOWNLOAD_TRIES = 5
TRACKING_PAUSE = 300.0  # seconds before a stopped tracker looks again, doubling to 1 h


def _ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


class Gateway:
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
        self.storage = settings.storage_path()
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
        self.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="gateway sweeper")

    def sweep(self) -> None:
        self.sweep_expired()
        for row in self.store.open_rows():
            if row.id in self._trackers:
                continue
            if row.task_id is not None:
                self.track(row)
            elif self._lease(row):
                # The process that submitted it ended inside the submit: the journal holds
                # the request as an entry of unknown outcome (`videoprovider tasks orphans`).
                self._update(
                    row,
                    status="failed",
                    error_code="submit_outcome_unknown",
                    error_message="The gateway stopped while submitting; the task may exist "
                    "at the provider. The operator can settle it with `videoprovider tasks "
                    "orphans`.",
                )
                self.store.release("gateway_videos", row.id, self.owner)
        if self.callbacks is not None:
            self.callbacks.sweep()

    async def _sweep_forever(self) -> None:
        while True:
            await self.clock.sleep(self._ttl / 2)
            try:
                self.sweep()
            except Exception:  # a store that failed once must not stop the sweeps
                log.exception("sweeping the gateway's store failed")

    def _lease(self, row: VideoRow) -> bool:
        ms = int(self._ttl * 1000)
        return self.store.acquire("gateway_videos", row.id, self.owner, _ms(self.clock), ms)

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
            request = request.model_copy(update={"image_url": upload})
        client = self.client(provider)
        client.capabilities  # noqa: B018 - loads and checks the provider first
        estimate = client.estimate(request)
        now = _ms(self.clock)
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

    # -- tracking -------------------------------------------------------------------------

    def track(self, row: VideoRow) -> None:
        """Follow `row` here, unless another live process holds its lease."""
        if row.id not in self._trackers and self._lease(row):
            tracker = asyncio.create_task(self._leased(row), name=f"track {row.id}")
            self._trackers[row.id] = tracker
            tracker.add_done_callback(lambda _: self._trackers.pop(row.id, None))

    async def _leased(self, row: VideoRow) -> None:
        tracker = asyncio.current_task()
        assert tracker is not None
        renewing = asyncio.create_task(self._renew(row, tracker))
        try:
            await self._follow(row)
        finally:
            renewing.cancel()
            self.store.release("gateway_videos", row.id, self.owner)

    async def _renew(self, row: VideoRow, tracker: asyncio.Task[None]) -> None:
        while True:
            await self.clock.sleep(self._ttl / 3)
            if not self._lease(row):
                log.warning("lost the lease on %s to another process; it follows it", row.id)
                tracker.cancel()
                return

    async def _follow(self, row: VideoRow) -> None:
        client = self.client(row.provider)
        ref = f"{row.provider}:{row.task_id}"

        async def progress(status: TaskStatus) -> None:
            if not status.is_terminal:
                state = "queued" if status.state is TaskState.PENDING else "in_progress"
                done = max(0, min(99, status.progress))
                if (state, done) != (row.status, row.progress):
                    self._update(row, status=state, progress=done)

        pause = TRACKING_PAUSE
        while True:
            try:
                final = await client.wait(ref, timeout=None, on_progress=progress)
                break
            except (e.TaskFailed, e.TaskCanceled, e.TaskNotFound) as exc:
                self._failed(row, exc)
                return
            except e.VideoProviderError as exc:
                # The gateway's side failed (credentials, a changed protocol), not the paid
                # task: keep it open and look again later; a restart looks at once.
                log.warning("tracking %s paused %.0f s: %s", row.id, pause, exc.message)
                await self.clock.sleep(pause)
                pause = min(pause * 2, 3600.0)
        self._update(row, status="in_progress", progress=99)
        await self._store_video(client, row, ref, final)

    async def _store_video(
        self, client: AsyncVideoClient, row: VideoRow, ref: str, final: TaskStatus
    ) -> None:
        target = self.storage / f"{row.id}.mp4"
        for attempt in range(DOWNLOAD_TRIES):
            try:
                await client.download(ref, target, overwrite=True)
                break
            except e.VideoProviderError as exc:
                if attempt == DOWNLOAD_TRIES - 1:
                    self._failed(row, exc, code="download_failed")
                    return
                await self.clock.sleep(2.0**attempt)
        done = _ms(self.clock)
        cost = final.cost
        self._update(
            row,
            status="completed",
            progress=100,
            path=str(target),
            completed_ms=done,
            expires_ms=done + int(self.settings.retention_hours * 3600 * 1000),
            cost_actual=str(cost.amount) if cost and cost.actual and cost.amount else None,
        )
        self._ended(row)

    def _failed(self, row: VideoRow, exc: e.VideoProviderError, code: str | None = None) -> None:
        status = getattr(exc, "status", None)
        self._update(
            row,
            status="failed",
            cancelled=int(isinstance(exc, e.TaskCanceled)),
            completed_ms=_ms(self.clock),
            error_code=code
            or (status.error_code if status is not None and status.error_code else None)
            or ("cancelled" if isinstance(exc, e.TaskCanceled) else type(exc).__name__),
            error_message=(
                status.error_message if status is not None and status.error_message else None
            )
            or exc.message,
        )
        self._ended(row)

    def _ended(self, row: VideoRow) -> None:
        if self.callbacks is not None:
            self.callbacks.ended(row)

    def _update(self, row: VideoRow, **values: Any) -> None:
        values["revision"] = row.revision + 1
        for name, value in values.items():
            setattr(row, name, value)
        self.store.update(row.id, **values)
        self._notify(row.id)

    def watch(self, video_id: str) -> asyncio.Event:
        """An event set at the video's next change (take it before reading the video)."""
        return self._changed.setdefault(video_id, asyncio.Event())

    def _notify(self, video_id: str) -> None:
        changed = self._changed.pop(video_id, None)
        if changed is not None:
            changed.set()

    # -- reading and deleting -------------------------------------------------------------

    def get(self, caller: Caller, video_id: str) -> VideoRow:
        row = self.store.get(video_id, caller.name)
        if row is None:
            raise not_found(video_id)
        return row

    def content(self, caller: Caller, video_id: str) -> Path:
        row = self.get(caller, video_id)
        if row.status != "completed":
            raise ApiError(
                409 if row.status in OPEN else 400,
                f"Video {video_id} is {row.status}; its content exists once it is completed.",
                param="video_id",
                code="video_not_ready",
                retry=False,
            )
        path = Path(row.path or "")
        if not row.path or not path.is_file() or (row.expires_ms or 0) <= _ms(self.clock):
            self.sweep_expired()
            raise ApiError(
                404,
                f"The stored file of video {video_id} has expired (kept "
                f"{self.settings.retention_hours:g} h).",
                param="video_id",
                code="video_expired",
            )
        return path

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
        self._remove(row)

    def _remove(self, row: VideoRow) -> None:
        if row.path:
            Path(row.path).unlink(missing_ok=True)
        self.store.delete(row.id)
        self._notify(row.id)

    def sweep_expired(self) -> int:
        """Delete stored files whose retention ran out; their videos stay, without content."""
        rows = self.store.expired(_ms(self.clock))
        for row in rows:
            if row.path:
                Path(row.path).unlink(missing_ok=True)
            self.store.update(row.id, path=None)
        return len(rows)
