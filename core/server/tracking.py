"""Following a video to its end, once across every process sharing the store.

A tracker per open video waits on the provider's client (so callers polling the gateway
cost the provider nothing) and stores the video the moment it is ready, before the
provider's signed URL runs out. Each holds the video's lease in the store and renews it; a
sweep every half lease picks up what a dead process left.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .. import errors as e
from ..client import AsyncVideoClient
from ..clock import Clock
from ..models import TaskState, TaskStatus
from .callbacks import Callbacks
from .settings import ServerSettings
from .storage import Storage, StorageError
from .store import Store, VideoRow, now_ms

__all__ = ["Tracking"]

log = logging.getLogger("videoprovider.server.gateway")
DOWNLOAD_TRIES = 5  # for a failure that says trying again will not help
TRACKING_PAUSE = 300.0  # seconds before a stopped tracker looks again, doubling to 1 h
STORING_PAUSE = 30.0  # seconds before a failed store is tried again, doubling to 1 h


class Tracking:
    """The trackers of one gateway process (the Gateway's half that follows videos)."""

    store: Store
    clock: Clock
    settings: ServerSettings
    storage: Storage
    callbacks: Callbacks | None
    owner: str
    _ttl: float
    _trackers: dict[str, asyncio.Task[None]]
    _changed: dict[str, asyncio.Event]

    def client(self, provider: str) -> AsyncVideoClient:
        raise NotImplementedError

    async def sweep(self) -> None:
        await self.sweep_expired()
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
                await self.sweep()
            except Exception:  # a store that failed once must not stop the sweeps
                log.exception("sweeping the gateway's store failed")

    def _lease(self, row: VideoRow) -> bool:
        ms = int(self._ttl * 1000)
        return self.store.acquire("gateway_videos", row.id, self.owner, now_ms(self.clock), ms)

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
        target = self.storage.download_target(row.id)
        # A file at the target is complete (downloads rename a finished file into place):
        # one left by a store that failed, or by a process that stopped, is not paid twice.
        # The final status carries the video's URL: asking the provider for it again would
        # be a request outside the poll budget, one per video ending, enough to push the
        # account over its limit when many end together.
        known: TaskStatus | None = final
        attempt, pause = 0, 1.0
        while not target.is_file():
            try:
                await client.download(ref, target, overwrite=True, status=known)
                break
            except e.VideoProviderError as exc:
                attempt += 1
                # The video is paid for: a refusal that may pass (a throttled lookup, a
                # service down) is waited out, however long; only one that will not, repeated,
                # fails the video.
                if not exc.retryable and attempt >= DOWNLOAD_TRIES:
                    self._failed(row, exc, code="download_failed")
                    return
                log.warning("downloading %s: %s; trying again in %.0f s", row.id, exc, pause)
                if not (isinstance(exc, e.DownloadError) and exc.retryable):
                    known = None  # the URL may have expired: the next try asks for a fresh one
                await self.clock.sleep(pause)
                pause = min(pause * 2, 3600.0)
        pause = STORING_PAUSE
        while True:
            try:
                location = await self.storage.keep(row.id, target)
                break
            except StorageError as exc:
                # The video is paid for and downloaded: keep it open and try again.
                log.warning("%s; trying again in %.0f s", exc, pause)
                await self.clock.sleep(pause)
                pause = min(pause * 2, 3600.0)
        done = now_ms(self.clock)
        cost = final.cost
        self._update(
            row,
            status="completed",
            progress=100,
            path=location,
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
            completed_ms=now_ms(self.clock),
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

    async def sweep_expired(self) -> int:
        """Delete stored files whose retention ran out; their videos stay, without content."""
        rows = self.store.expired(now_ms(self.clock))
        for row in rows:
            if row.path:
                try:
                    await self.storage.remove(row.path)
                except StorageError as exc:
                    log.warning("%s; the next sweep tries again", exc)
                    continue
            self.store.update(row.id, path=None)
        return len(rows)
