"""One HTTP/1.1 client connection on an asyncio protocol: write a request, read its reply.

Only what JSON API calls need (RFC 9112): a status line and headers, then a body framed by
Content-Length, by chunked encoding or by the connection closing. Interim 1xx replies are
skipped; trailers are read and ignored. Limits keep a misbehaving server from filling memory.
"""

from __future__ import annotations

import asyncio

import httpx

__all__ = ["Connection", "Origin", "serialize_request"]

MAX_HEAD = 64 * 1024  # a status line and headers longer than this are not an API reply
MAX_BODY = 64 * 1024 * 1024  # nor is a body larger than this; it is refused, not truncated
NO_BODY_STATUS = frozenset({204, 304})

Origin = tuple[bytes, bytes, int]


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; bytes arrive in `buf`, readers wait on `waiter`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.origin: Origin = (b"", b"", 0)
        self.idle_since = 0.0
        self.used = False
        self.answered = False  # any byte of a reply arrived since the request was written

    # -- asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.answered = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the transport ----------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        # The loop has already run eof_received for a peer that closed an idle connection,
        # so this catches stale keep-alive connections without a system call.
        transport = self.transport
        return not (self.eof or self.buf or transport is None or transport.is_closing())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def more(self, timeout: float | None, request: httpx.Request) -> None:
        """Wait for more bytes; raise if the peer closed or nothing came within `timeout`."""
        if self.eof:
            if self.error is not None:
                raise httpx.ReadError(f"Connection lost: {self.error!r}", request=request)
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            )
        waiter = self.loop.create_future()
        self.waiter = waiter
        timer = None if timeout is None else self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    async def read_response(
        self, method: bytes, timeout: float | None, request: httpx.Request
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool]:
        while True:
            status, reason, headers, keep = await self._read_head(timeout, request)
            if status >= 200 or status == 101:
                break  # 1xx interim replies (100 Continue) are skipped
        fields = {k.lower(): v for k, v in headers}
        if method == b"HEAD" or status in NO_BODY_STATUS or status < 200:
            body = b""
        elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            body = await self._read_chunked(timeout, request)
        elif b"content-length" in fields:
            try:
                length = int(fields[b"content-length"])
            except ValueError:
                raise _protocol("Malformed Content-Length header.", request) from None
            if not 0 <= length <= MAX_BODY:
                raise _protocol(f"Refusing a {length}-byte reply body.", request)
            body = await self._read_exactly(length, timeout, request)
        else:
            body = await self._read_to_eof(timeout, request)
            keep = False
        if self.buf:  # bytes nobody asked for: the connection's framing is no longer known
            keep = False
        return status, reason, headers, body, keep

    async def _read_head(
        self, timeout: float | None, request: httpx.Request
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise _protocol("Reply headers are too long.", request)
            await self.more(timeout, request)
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        status_line, *lines = head.split(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise _protocol(f"Malformed status line {status_line[:80]!r}.", request)
        headers = []
        for line in lines:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in b" \t" or line[:1] in b" \t":
                raise _protocol(f"Malformed header line {line[:80]!r}.", request)
            headers.append((name, value.strip(b" \t")))
        connection = b",".join(v for k, v in headers if k.lower() == b"connection").lower()
        keep = parts[0] == b"HTTP/1.1" and b"close" not in connection
        return int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, keep

    async def _read_exactly(self, n: int, timeout: float | None, request: httpx.Request) -> bytes:
        while len(self.buf) < n:
            await self.more(timeout, request)
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return body

    async def _read_chunked(self, timeout: float | None, request: httpx.Request) -> bytes:
        body = bytearray()
        while True:
            while (end := self.buf.find(b"\r\n")) < 0:
                if len(self.buf) > MAX_HEAD:
                    raise _protocol("Malformed chunk size line.", request)
                await self.more(timeout, request)
            try:
                size = int(bytes(self.buf[:end]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _protocol("Malformed chunk size line.", request) from None
            del self.buf[: end + 2]
            if size == 0:
                # Trailers (rarely sent, ignored) end at an empty line.
                while (end := self.buf.find(b"\r\n")) != 0:
                    if end > 0:
                        del self.buf[: end + 2]
                        continue
                    await self.more(timeout, request)
                del self.buf[:2]
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise _protocol("Refusing a reply body over the size limit.", request)
            chunk = await self._read_exactly(size + 2, timeout, request)
            if chunk[-2:] != b"\r\n":
                raise _protocol("Malformed chunk.", request)
            body += chunk[:-2]

    async def _read_to_eof(self, timeout: float | None, request: httpx.Request) -> bytes:
        while not self.eof:
            if len(self.buf) > MAX_BODY:
                raise _protocol("Refusing a reply body over the size limit.", request)
            try:
                await self.more(timeout, request)
            except httpx.RemoteProtocolError:
                break
        if self.error is not None:
            raise httpx.ReadError(f"Connection lost: {self.error!r}", request=request)
        body = bytes(self.buf)
        self.buf.clear()
        return body


def serialize_request(request: httpx.Request) -> bytes:
    url = request.url
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), url.raw_path)]
    for name, value in request.headers.raw:
        # Header injection guard (h11 does the same): no line breaks inside a field.
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError(f"Header {name!r} contains a line break.")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    lines.append(request.content)
    return b"".join(lines)


def _protocol(message: str, request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(message, request=request)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("Timed out waiting for the reply."))
