"""The emulator's completion events: EventBridge's POSTs of `AsyncTaskFinish` to a URL.

When a task ends (SUCCEEDED or FAILED), Model Studio publishes a CloudEvent that an
EventBridge rule can forward to an HTTP target, with the target's Token in a header
[protocol notes §14]. Here a background task on the emulator's loop checks each tick which
tasks the emulator's (possibly virtual) clock has ended, `delay` emulated seconds ago, and
POSTs their events concurrently, so request handling never waits on a receiver. As
EventBridge may, it can send an event twice (same `id`), and it can drop a share of them to
exercise a client's safety-net polling; the second copy goes out once the first was
answered, as a redelivery would. A receiver that fails or cannot be reached gets the
same event again on the next ticks, a few times at most.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx

__all__ = ["DEFAULT_ACCOUNT_ID", "DEFAULT_TOKEN", "EventSender", "Sent", "event_body"]

# Obviously fake: what the emulator's HTTP target is "configured" with.
DEFAULT_TOKEN = "sk-test-eventbridge-token"
DEFAULT_ACCOUNT_ID = "1000000000000000"
TOKEN_HEADER = "x-eventbridge-signature-token"
ATTEMPTS = 3
TICK = 0.01  # real seconds between checks of the emulator's clock
SERVER_TZ = timezone(timedelta(hours=8))


@dataclass
class Sent:
    """One event as posted (and re-posted) to the receiver."""

    task_id: str
    event_id: str
    body: bytes
    attempts: int = 0
    answer: int | None = None  # the receiver's last HTTP status; None: not reached
    after: Sent | None = None  # a redelivery goes out once the first copy has settled

    @property
    def settled(self) -> bool:
        delivered = self.answer is not None and 200 <= self.answer < 300
        return delivered or self.attempts >= ATTEMPTS


@dataclass
class EventSender:
    """Queues and POSTs events; `sent` lists every delivery in order, `dropped` the ids of
    the tasks whose event was lost on purpose."""

    url: str
    token: str | None = DEFAULT_TOKEN
    header: str = TOKEN_HEADER
    twice: bool = False
    drop: float = 0.0  # share of events lost, 0-1
    seed: int = 0
    sent: list[Sent] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._task: asyncio.Task[None] | None = None
        self._changed = threading.Condition()
        # Not yet settled, so a tick with 10,000 tasks behind it looks only at these.
        self._pending: list[Sent] = []

    def queue(self, task_id: str, body: bytes, event_id: str) -> None:
        with self._changed:
            if self.drop and self._rng.random() < self.drop:
                self.dropped.append(task_id)
                self._changed.notify_all()
                return
            first = Sent(task_id, event_id, body)
            copies = [first]
            if self.twice:
                copies.append(Sent(task_id, event_id, body, after=first))
            self.sent += copies
            self._pending += copies

    def clear(self) -> None:
        """Forget every event (an emulator reset)."""
        with self._changed:
            self.sent.clear()
            self.dropped.clear()
            self._pending.clear()

    def settled(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """Wait until `count` events were sent or dropped, each delivered or given up; for
        tests in another thread. TimeoutError after `timeout` real seconds."""

        def done() -> bool:
            return len(self.sent) + len(self.dropped) >= count and all(s.settled for s in self.sent)

        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise TimeoutError(f"{count} completion events did not settle in {timeout} s")
            return list(self.sent)

    def counts(self) -> dict[str, int]:
        with self._changed:
            delivered = sum(1 for s in self.sent if s.answer is not None and s.answer < 300)
            return {"sent": len(self.sent), "delivered": delivered, "dropped": len(self.dropped)}

    def start(self, find_due: Callable[[], None]) -> None:
        """Run the sender on the current loop (once); `find_due()` queues what is due."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(find_due))

    async def _run(self, find_due: Callable[[], None]) -> None:
        headers = {"Content-Type": "application/json;charset=utf-8"}
        if self.token is not None:
            headers[self.header] = self.token
        async with httpx.AsyncClient(timeout=5.0, headers=headers) as http:
            while True:
                find_due()
                with self._changed:
                    self._pending = [s for s in self._pending if not s.settled]
                    due = [s for s in self._pending if s.after is None or s.after.settled]
                await asyncio.gather(*(self._send(http, s) for s in due))
                await asyncio.sleep(TICK)

    async def _send(self, http: httpx.AsyncClient, sent: Sent) -> None:
        sent.attempts += 1
        try:
            response = await http.post(self.url, content=sent.body)
        except httpx.HTTPError:
            answer = None
        else:
            answer = response.status_code
        with self._changed:
            sent.answer = answer
            self._changed.notify_all()


def event_body(
    task_id: str,
    status: str,
    started: datetime,
    ended: datetime,
    *,
    published: datetime,
    account_id: str,
    event_id: str | None = None,
) -> tuple[str, bytes]:
    """An `AsyncTaskFinish` CloudEvent as EventBridge posts it [protocol notes §14]; its id
    and its JSON."""
    event_id = event_id or str(uuid.uuid4())
    region = "cn-beijing"
    stamp = published.astimezone(SERVER_TZ).isoformat(timespec="milliseconds")
    doc = {
        "specversion": "1.0",
        "id": event_id,
        "source": "acs.dashscope",
        "type": "dashscope:System:AsyncTaskFinish",
        "time": stamp,
        "datacontenttype": "application/json;charset=utf-8",
        "aliyunaccountid": account_id,
        "aliyunpublishtime": stamp,
        "aliyuneventbusname": "default",
        "aliyunregionid": region,
        "aliyunpublishaddr": "127.0.0.1",
        "data": {
            "task_id": task_id,
            "task_status": status,
            "start_time": _server_time(started),
            "end_time": _server_time(ended),
            "region": region,
            "request_id": str(uuid.uuid4()),
            "api_key_id": "1250",
            "user_api_unique_key": "apikey:v1:emulator:video-generation:video-synthesis:wan",
            "contain_result": False,
        },
    }
    return event_id, json.dumps(doc).encode()


def _server_time(when: datetime) -> str:
    return when.astimezone(SERVER_TZ).strftime("%Y-%m-%d %H:%M:%S")
