"""Updates a provider's service pushes to the host: replay protection and an ASGI endpoint.

A host that can receive HTTP hands each delivery to `client.receive_webhook(headers, body)`
(or mounts `asgi_app(client)` in Starlette, FastAPI or any ASGI server). The provider's
`videoprovider_webhook` hook verifies it; the client then records the status in the journal,
ends the waits on that task without another poll, and tells host plugins. A delivery that
only announces that a task finished (a *notice*: DashScope's completion events carry no
video URL) costs one status request instead, ahead of every other poll, and that status
ends the waits; notices cost at most one such request per task per interval
(core/notices.py). Polling goes on at a low rate as a safety net, so a lost delivery never
loses a task.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from .errors import VideoProviderError, WebhookRejected
from .models import Task, TaskStatus, WebhookDelivery
from .notices import NoticeGate

if TYPE_CHECKING:
    from .backend import Backend
    from .waiting import Waiter

__all__ = [
    "BODY_TIMEOUT",
    "MAX_BODY",
    "MAX_PENDING",
    "Inbox",
    "SeenDeliveries",
    "WebhookApp",
    "asgi_app",
]

MAX_BODY = 1024 * 1024  # a delivery is one task's JSON; a megabyte is far beyond any
BODY_TIMEOUT = 10.0  # seconds for a whole body: a sender posts a few KB at once
MAX_PENDING = 64  # bodies being read at once; deliveries are small, so few are ever pending

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WebhookReceiver(Protocol):
    """What `asgi_app` serves: `AsyncVideoClient` is one (a protocol, so this module never
    imports the client that imports it)."""

    async def receive_webhook(
        self, headers: Mapping[str, str], body: bytes, *, provider: str | None = None
    ) -> TaskStatus | None: ...


class SeenDeliveries:
    """The ids of the latest deliveries applied, so a replayed one changes nothing.

    Services retry a delivery they think failed, and an attacker can replay a genuine one
    within its signature's lifetime; both carry an id already seen. Bounded: the oldest ids
    are forgotten first, long after any signature on them has expired.
    """

    def __init__(self, keep: int = 100_000) -> None:
        self._keep = keep
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_time(self, provider: str, delivery_id: str) -> bool:
        key = (provider, delivery_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._keep:
            self._seen.popitem(last=False)
        return True

    def forget(self, provider: str, delivery_id: str) -> None:
        """Take back a delivery that could not be applied, so the sender's retry can be."""
        self._seen.pop((provider, delivery_id), None)


class Inbox:
    """Where a client's deliveries arrive: verified by the provider, applied once."""

    def __init__(self, waiter: Waiter) -> None:
        self._calls = waiter.calls
        self._hosts = waiter.hosts
        self._waiter = waiter
        self._seen = SeenDeliveries()
        self._notices = NoticeGate()

    async def receive(
        self, backend: Backend, headers: Mapping[str, str], body: bytes
    ) -> TaskStatus | None:
        if not backend.pm.hook.videoprovider_webhook.get_hookimpls():
            raise WebhookRejected(
                f"The {backend.name} provider takes no webhook deliveries.",
                provider=backend.name,
                operation="webhook",
                http_status=404,
            )
        lowered = {name.lower(): value for name, value in headers.items()}
        delivery = await backend.invoke(
            "videoprovider_webhook", "webhook", WebhookDelivery, None, headers=lowered, body=body
        )
        if not self._seen.first_time(backend.name, delivery.id):
            return None
        status = delivery.status
        if delivery.notice:
            key = (status.provider, status.task_id)
            if (
                not backend.scheduler.waits_on(*key)
                and await self._calls.recorder.knows(*key) is False
            ):
                # Not one of ours: a service may push every task of the account (EventBridge
                # does), and fetching other programs' tasks would spend the account's budget.
                return status
            interval = backend.declared.notice_interval
            if not self._notices.admit(*key, backend.scheduler.clock.monotonic(), interval):
                return None  # this task was asked about within the interval (core/notices.py)
            if backend.scheduler.confirm(*key):
                return status  # the waits' own poll fetches it, ahead of the others
            # Nobody in this process waits on it: fetch it here, through the client's status
            # call, so the journal and host plugins see the real final status.
            task = Task(provider=status.provider, task_id=status.task_id)
            try:
                status = await self._calls.status(task)
            except BaseException:
                self._seen.forget(backend.name, delivery.id)
                self._notices.release(*key)
                raise
        else:
            status = await self._calls.record(
                Task(provider=status.provider, task_id=status.task_id), status
            )
        await self._apply(backend, status)
        return status

    async def _apply(self, backend: Backend, status: TaskStatus) -> None:
        if not await backend.scheduler.deliver(status):
            # Nobody in this process waits on it: tell host plugins directly.
            task = Task(provider=status.provider, task_id=status.task_id)
            await self._hosts.emit(
                "videoprovider_task_updated", task=task, status=status, previous=None
            )
            if status.is_terminal:
                await self._waiter.finished(task, status, None)


class WebhookApp:
    """The ASGI app `asgi_app` builds; `reading` is the number of bodies being read now."""

    def __init__(
        self,
        client: WebhookReceiver,
        provider: str | None,
        max_body: int,
        body_timeout: float,
        max_pending: int,
    ) -> None:
        self._client = client
        self._provider = provider
        self._max_body = max_body
        self._body_timeout = body_timeout
        self._max_pending = max_pending
        self.reading = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "deliveries are POSTed"}, [(b"allow", b"POST")])
            return
        if self.reading >= self._max_pending:
            # Many bodies arriving slowly at once: a sender that means it retries; holding
            # them all would let a few slow connections take every worker.
            await _answer(send, 503, {"error": "too many deliveries at once"}, _RETRY_SOON)
            return
        self.reading += 1
        try:
            with anyio.move_on_after(self._body_timeout) as reading:
                body = await _body(receive, self._max_body)
        finally:
            self.reading -= 1
        if reading.cancelled_caught:
            error = {"error": f"the body did not arrive within {self._body_timeout:g} s"}
            await _answer(send, 408, error, [(b"connection", b"close")])
            return
        if body is None:
            await _answer(send, 413, {"error": f"a delivery is at most {self._max_body} bytes"})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            status = await self._client.receive_webhook(headers, body, provider=self._provider)
        except WebhookRejected as exc:
            await _answer(send, exc.http_status or 400, {"error": exc.message})
            return
        except VideoProviderError as exc:
            await _answer(send, 503, {"error": exc.message}, [(b"retry-after", b"10")])
            return
        if status is None:
            await _answer(send, 200, {"replay": True})
        else:
            await _answer(send, 200, {"task": status.task_id, "state": status.state.value})


_RETRY_SOON = [(b"retry-after", b"1"), (b"connection", b"close")]


def asgi_app(
    client: WebhookReceiver,
    *,
    provider: str | None = None,
    max_body: int = MAX_BODY,
    body_timeout: float = BODY_TIMEOUT,
    max_pending: int = MAX_PENDING,
) -> WebhookApp:
    """An ASGI app that hands every POST it receives to `client.receive_webhook`.

    Answers 200 with the task's state (or `"replay": true`), 401/400/404 for a delivery the
    provider rejected, 503 when a notice's status could not be fetched (the sender retries
    it), 405 for other methods and 413 for a body over `max_body`, so the sender knows
    whether to retry. A body must arrive whole within `body_timeout` seconds (else 408), and
    at most `max_pending` bodies are read at once (others get 503 at once), so slow
    connections cannot hold the app. `provider` picks the provider for a client that routes
    to several (default: the client's own).
    """
    return WebhookApp(client, provider, max_body, body_timeout, max_pending)


async def _body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(
    send: Send,
    status: int,
    document: dict[str, Any],
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
