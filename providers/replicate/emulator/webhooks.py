"""The emulator's webhook deliveries: signed Standard Webhooks POSTs, sent and retried.

Replicate POSTs the prediction (as `GET /predictions/{id}` returns it) to the `webhook` URL
of its create call on the events of `webhook_events_filter`, signed with the account's
`whsec_` key [verify-webhook] [webhooks]. Here a background task on the emulator's loop
checks each tick which events the emulator's clock has reached, queues one delivery per
event and sends what is queued; a receiver that fails or cannot be reached gets the same
delivery (same id, timestamp and signature) again on the next ticks, a few times at most.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ..webhooks import signature, signing_key

# An obviously fake key: the emulator signs with it and serves it at /webhooks/default/secret.
DEFAULT_SECRET = "whsec_" + base64.b64encode(b"sk-test-emulator-webhook-key-0000").decode()
# Replicate's default when a create names a webhook but no filter [webhooks].
DEFAULT_EVENTS = ("output", "completed")
ATTEMPTS = 3
TICK = 0.01  # real seconds between checks of the emulator's (possibly virtual) clock


@dataclass
class Delivery:
    """One event for one prediction, as sent (and re-sent) to the receiver."""

    prediction_id: str
    event: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: int = 0
    answer: int | None = None  # the receiver's last HTTP status; None: not reached

    @property
    def delivered(self) -> bool:
        return self.answer is not None and 200 <= self.answer < 300


class Deliverer:
    """Signs, queues and sends deliveries; `deliveries` lists every one, in order."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._key = signing_key(secret)
        self._ids = itertools.count(1)
        self.deliveries: list[Delivery] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = threading.Condition()

    def settled(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until `count` deliveries exist, each delivered or given up; for tests in
        another thread. TimeoutError after `timeout` real seconds."""

        def done() -> bool:
            return len(self.deliveries) >= count and all(
                d.delivered or d.attempts >= ATTEMPTS for d in self.deliveries
            )

        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise TimeoutError(f"{count} webhook deliveries did not settle in {timeout} s")
            return list(self.deliveries)

    def queue(self, prediction_id: str, event: str, url: str, body: bytes, stamp: int) -> None:
        msg_id = f"msg_emu{next(self._ids):06d}"
        mac = signature(self._key, msg_id, str(stamp), body)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        }
        with self._changed:
            self.deliveries.append(Delivery(prediction_id, event, url, headers, body))

    def start(self, find_due: Callable[[], None]) -> None:
        """Run the sender on the current loop (once); `find_due()` queues what is due."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(find_due))

    async def _run(self, find_due: Callable[[], None]) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                find_due()
                # Concurrently, as the service does: a host's slow answer to one delivery
                # must not hold up the others.
                due = [d for d in self.deliveries if not d.delivered and d.attempts < ATTEMPTS]
                await asyncio.gather(*(self._send(http, d) for d in due))
                await asyncio.sleep(TICK)

    async def _send(self, http: httpx.AsyncClient, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            response = await http.post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
        except httpx.HTTPError:
            answer = None
        else:
            answer = response.status_code
        with self._changed:
            delivery.answer = answer
            self._changed.notify_all()
