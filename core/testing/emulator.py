"""What every provider emulator is built on: an HTTP/1.1 server and its life cycle.

A provider's emulator (DashScope's, Replicate's, a third party's) is a `handler` from
`Request` to `Response` holding the service's rules; this module serves it on loopback:
`serve()` on the running loop, `in_thread()` on a loop of its own for tests in this process,
`serve_until_signalled()` for a `python -m ...emulator` entry point.

h11 (the parser under httpx, so no new dependency) keeps this module free of hand-written
HTTP: malformed requests get a 400, heads are bounded, keep-alive and pipelining follow the
protocol, and a streamed body (`Response.stream`, server-sent events) goes out chunked as
it is produced. It is fast enough (well over a thousand requests per second on one core) for the
benchmarks to drive it, and serves TLS when given a context.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import h11

__all__ = [
    "EmulatorClock",
    "Handler",
    "Recorded",
    "Request",
    "Response",
    "base_url",
    "in_thread",
    "record",
    "serve",
    "serve_until_signalled",
]

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024  # far above any DashScope request body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # real seconds before answering (slow-reply faults)
    drop: bool = False  # close the connection without answering
    # A streamed body (server-sent events): each chunk is sent as it comes, chunked by h11;
    # the iterator raising cuts the connection mid-body, as a dying server does.
    stream: AsyncIterator[bytes] | None = None


@dataclass
class Recorded:
    """A request as an emulator saw it: key redacted, JSON body parsed, when it arrived."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float = 0.0  # real monotonic seconds: benchmarks count requests per second


def record(request: Request, *, key_tail: int = 0) -> Recorded:
    """`request` for an emulator's log, its bearer key cut to its last `key_tail` characters
    (only when the key is longer than 8, so a short one never shows whole)."""
    headers = dict(request.headers)
    if "authorization" in headers:
        key = headers["authorization"].removeprefix("Bearer ").strip()
        tail = key[-key_tail:] if key_tail and len(key) > 8 else ""
        headers["authorization"] = f"Bearer …{tail}"
    try:
        body: Any = json.loads(request.body) if request.body else None
    except ValueError:
        body = request.body.decode("utf-8", "replace")
    return Recorded(request.method, request.path, headers, body, time.monotonic())


Handler = Callable[[Request], Awaitable[Response]]


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[Request | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.head: h11.Request | None = None
        self.body: list[bytes] = []
        self.size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.worker = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._read_events()

    def eof_received(self) -> bool | None:
        self.conn.receive_data(b"")
        self._read_events()
        return None

    def _read_events(self) -> None:
        # h11 pauses after each complete request until its response is sent, so pipelined
        # requests wait in its buffer and are read again by _serve after each reply.
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError:
                self._refuse()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.head, self.body, self.size = event, [], 0
            elif isinstance(event, h11.Data):
                self.size += len(event.data)
                if self.size > MAX_BODY:
                    self._refuse()
                    return
                self.body.append(event.data)
            elif isinstance(event, h11.EndOfMessage) and self.head is not None:
                self.queue.put_nowait(_request(self.head, b"".join(self.body)))
                self.head = None
            elif isinstance(event, h11.ConnectionClosed):
                self.queue.put_nowait(None)
                return

    def _refuse(self) -> None:
        if self.transport is None:
            return
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = b'{"code":"BadRequest","message":"malformed HTTP request"}'
            self._write(Response(400, body, {"Connection": "close"}))
        self.transport.close()

    def _write(self, response: Response) -> None:
        assert self.transport is not None
        headers = [("Content-Length", str(len(response.body))), *response.headers.items()]
        self.transport.write(
            self.conn.send(
                h11.Response(status_code=response.status, headers=headers, reason=_reason(response))
            )
            + self.conn.send(h11.Data(data=response.body))
            + self.conn.send(h11.EndOfMessage())
        )

    async def _write_stream(self, response: Response, body: AsyncIterator[bytes]) -> bool:
        """Send `response` with `body` as it comes: no Content-Length, so h11 frames it
        chunked (HTTP/1.1). False when the connection ended before the body did."""
        assert self.transport is not None
        self.transport.write(
            self.conn.send(
                h11.Response(
                    status_code=response.status,
                    headers=list(response.headers.items()),
                    reason=_reason(response),
                )
            )
        )
        try:
            async for chunk in body:
                transport = self.transport
                if transport is None or transport.is_closing():
                    return False  # the client went away: stop producing
                transport.write(self.conn.send(h11.Data(data=chunk)))
        except Exception:
            if self.transport is not None:
                self.transport.abort()
            return False
        finally:
            close = getattr(body, "aclose", None)
            if close is not None:
                await close()
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        return True

    async def _serve(self) -> None:
        # One request at a time per connection keeps replies in order (HTTP/1.1 pipelining).
        while (request := await self.queue.get()) is not None:
            try:
                response = await self.handler(request)
            except Exception as exc:  # the emulator must answer, not die
                response = Response(500, f'{{"code":"InternalError","message":"{exc!r}"}}'.encode())
            if response.delay:
                await asyncio.sleep(response.delay)
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            if response.drop:
                transport.abort()
                return
            if response.stream is not None:
                if not await self._write_stream(response, response.stream):
                    return
            else:
                self._write(response)
            if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                transport.close()  # Connection: close, or a request h11 cannot reuse after
                return
            self.conn.start_next_cycle()
            self._read_events()


def _reason(response: Response) -> str:
    try:
        return HTTPStatus(response.status).phrase
    except ValueError:
        return "Status"


def _request(head: h11.Request, body: bytes) -> Request:
    url = urlsplit(head.target.decode("latin-1"))
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in head.headers}
    return Request(
        head.method.decode("latin-1"), url.path, dict(parse_qsl(url.query)), headers, body
    )


async def serve(
    handler: Handler, host: str, port: int, tls: ssl.SSLContext | None = None
) -> asyncio.Server:
    """Serve `handler` on host:port; over TLS when `tls` (a server-side context) is given."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(handler), host, port, backlog=1024, ssl=tls)


def base_url(server: asyncio.Server, host: str, tls: ssl.SSLContext | None) -> str:
    return f"{'https' if tls else 'http'}://{host}:{server.sockets[0].getsockname()[1]}"


class EmulatorClock(Protocol):
    """The time an emulator runs on: `videoprovider.clock.SystemClock`, or a `VirtualClock`
    shared with the client under test so nothing sleeps."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


@contextmanager
def in_thread(
    start: Callable[[], Awaitable[asyncio.Server]], name: str = "emulator"
) -> Iterator[asyncio.Server]:
    """Run the server `start()` creates on an event loop in a daemon thread of this process.

    On exit the server closes and every task on its loop (keep-alive connections included)
    is cancelled, so none outlives the loop.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    started: list[asyncio.Server] = []

    async def begin() -> None:
        started.append(await start())
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(begin())
        loop.run_forever()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError(f"the {name} did not start within 10 s")
    try:
        yield started[0]
    finally:

        async def stop() -> None:
            started[0].close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def serve_until_signalled(
    handler: Handler,
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    announce: Callable[[str], None],
) -> None:
    """Serve until SIGINT or SIGTERM; `announce(base_url)` once listening."""
    server = await serve(handler, host, port, tls)
    announce(base_url(server, host, tls))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
