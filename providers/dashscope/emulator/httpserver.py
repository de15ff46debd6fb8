"""A small HTTP/1.1 server on asyncio: keep-alive, Content-Length bodies, nothing else.

Hand-written rather than built on a framework so the emulator adds no dependency and stays
fast enough (thousands of requests per second on one core) for the benchmarks to drive it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
MAX_HEAD = 64 * 1024


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


Handler = Callable[[Request], Awaitable[Response]]


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[Request | None] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.worker = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > MAX_HEAD and self.transport:
                    self.transport.close()
                return
            lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
            method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            url = urlsplit(target)
            self.queue.put_nowait(
                Request(method, url.path, dict(parse_qsl(url.query)), headers, body)
            )

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
            head = [
                f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}",
                f"Content-Length: {len(response.body)}",
            ]
            head += [f"{k}: {v}" for k, v in response.headers.items()]
            transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
            if request.headers.get("connection", "").lower() == "close":
                transport.close()
                return


async def serve(
    handler: Handler, host: str, port: int, tls: ssl.SSLContext | None = None
) -> asyncio.Server:
    """Serve `handler` on host:port; over TLS when `tls` (a server-side context) is given."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(handler), host, port, backlog=1024, ssl=tls)


def base_url(server: asyncio.Server, host: str, tls: ssl.SSLContext | None) -> str:
    return f"{'https' if tls else 'http'}://{host}:{server.sockets[0].getsockname()[1]}"
