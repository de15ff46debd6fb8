"""Callbacks: when a video ends, the gateway POSTs its video object to the caller's URL,
signed with the Standard Webhooks scheme (the `standardwebhooks` package).

Every delivery is a row of the store before it is first tried, with its `webhook-id`: the
same id on every retry (receivers dedupe by it), the retries spaced out on the injected
clock and recorded, so a restart continues them. The target goes through the download
client's private-address guard unless the operator allows private targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime, timezone

import httpx
from standardwebhooks import Webhook

from ..clock import Clock
from ..download import AddressGuard
from ..errors import DownloadError
from .errors import ApiError
from .settings import ServerSettings
from .store import CallbackRow, Store, VideoRow, now_ms
from .views import to_wire

__all__ = ["Callbacks", "check_callback_url"]

log = logging.getLogger(__name__)
# Seconds before each retry: a receiver that is down for a deploy or an hour still gets it.
BACKOFF = (5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)


def check_callback_url(url: str | None, settings: ServerSettings) -> str | None:
    """Refuse, before anything is sent, a callback the gateway could not deliver."""
    if url is None:
        return None
    parsed = httpx.URL(url)
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise ApiError(400, "callback_url must be an http(s) URL.", param="callback_url")
    if settings.callback_secret is None:
        raise ApiError(
            400,
            "This gateway sends no callbacks: its operator has set no callback_secret.",
            param="callback_url",
            code="callbacks_disabled",
            retry=False,
        )
    return url


class Callbacks:
    """The deliveries of one gateway process, each in its own task until it lands."""

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        owner: str = "",
    ) -> None:
        self._settings = settings
        self._owner = owner
        self._store = store
        self._clock = clock
        guard = AddressGuard(allow_private=settings.callback_allow_private)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=10.0,
            follow_redirects=False,
            event_hooks={"request": [guard]},
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def sweep(self) -> None:
        """Deliver here every pending callback no live process is delivering."""
        for row in self._store.pending_callbacks():
            if row.id not in self._tasks:
                self._run(row)

    def _lease(self, row: CallbackRow, seconds: float) -> bool:
        now = now_ms(self._clock)
        ttl = int((seconds + self._settings.lease_seconds) * 1000)
        return self._store.acquire("gateway_callbacks", row.id, self._owner, now, ttl)

    async def stop(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._http.aclose()

    def ended(self, video: VideoRow) -> None:
        """Record the delivery of `video`'s end (when it has a callback) and start it."""
        if not video.callback_url:
            return
        row = CallbackRow(
            id=f"msg_{uuid.uuid4().hex}",
            video_id=video.id,
            url=video.callback_url,
            payload=json.dumps(
                {"type": f"video.{video.status}", "data": to_wire(video).model_dump(mode="json")}
            ),
            attempts=0,
        )
        self._store.add_callback(row)
        self._run(row)

    def _run(self, row: CallbackRow) -> None:
        if not self._lease(row, 0):
            return
        task = asyncio.create_task(self._deliver(row), name=f"callback {row.id}")
        self._tasks[row.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(row.id, None))

    async def _deliver(self, row: CallbackRow) -> None:
        try:
            await self._attempts(row)
        finally:
            # Stopping (SIGTERM) hands it to the next process at once, not after the lease.
            self._store.release("gateway_callbacks", row.id, self._owner)

    async def _attempts(self, row: CallbackRow) -> None:
        assert self._settings.callback_secret is not None
        signer = Webhook(self._settings.callback_secret.get_secret_value())
        while row.attempts < self._settings.callback_max_attempts:
            if row.attempts:
                pause = BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
                # Held through the pause, so no other process delivers it meanwhile.
                if not self._lease(row, pause):
                    return
                await self._clock.sleep(pause)
            now: datetime = self._clock.now()
            stamp = now.astimezone(timezone.utc)
            headers = {
                "content-type": "application/json",
                "webhook-id": row.id,
                "webhook-timestamp": str(int(stamp.timestamp())),
                "webhook-signature": signer.sign(row.id, stamp, row.payload),
            }
            row.attempts += 1
            try:
                answer = await self._http.post(row.url, content=row.payload, headers=headers)
            except DownloadError as exc:
                # A private target stays private: retrying cannot help.
                self._store.callback_tried(row.id, row.attempts, exc.message, final=True)
                log.warning("callback %s refused: %s", row.id, exc.message)
                return
            except httpx.HTTPError as exc:
                self._store.callback_tried(row.id, row.attempts, type(exc).__name__)
                continue
            if answer.is_success:
                self._store.callback_tried(
                    row.id, row.attempts, None, delivered_ms=int(stamp.timestamp() * 1000)
                )
                return
            self._store.callback_tried(row.id, row.attempts, f"HTTP {answer.status_code}")
        self._store.callback_tried(row.id, row.attempts, "gave up", final=True)
        log.warning("callback %s gave up after %d attempts", row.id, row.attempts)
