"""A lean keep-alive HTTP/1.1 transport for providers' small JSON API calls.

Tracking thousands of tasks is thousands of tiny status requests, and httpx's default
transport (httpcore over anyio) spends most of the client's CPU on them: about 1 ms per GET
on our 2-core test machine, where the same request through the same `httpx.AsyncClient` on
this transport takes 4.5x less (benchmarks/transport_overhead.py). It plugs in under httpx,
so the client, auth, redirects, timeouts and exception types stay httpx's, and speaks
HTTP/1.1 straight on asyncio protocols.

It does what API calls need and hands anything else to a regular `httpx.AsyncHTTPTransport`:
buffered request bodies and buffered replies (Content-Length, chunked or until close),
keep-alive with a bounded pool, TLS, and httpx's connect/read/pool timeouts. Streaming
request bodies and event loops other than asyncio take the fallback. Proxies from the
environment are httpx mounts, which take precedence over any transport, so they keep working.
Downloads do not use it: a video should stream to disk, not sit in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque

import httpx
import sniffio

from .http11 import Connection, Origin, serialize_request

__all__ = ["KeepAliveTransport"]

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS"})
DEFAULT_PORTS = {b"http": 80, b"https": 443}


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """An httpx transport for many small API requests over few kept-alive connections.

    `max_connections` bounds the open connections across origins; requests beyond it queue
    (FIFO) until one is free, up to httpx's pool timeout. `verify` is what httpx accepts
    (True, False or an `ssl.SSLContext`). Idle connections are closed after
    `keepalive_expiry` seconds, before servers (often at 60 s) close them under us.
    """

    def __init__(
        self,
        *,
        max_connections: int = 8,
        keepalive_expiry: float = 20.0,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        self._idle: dict[Origin, list[Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._closed = False

    def __repr__(self) -> str:
        idle = sum(len(v) for v in self._idle.values())
        return f"KeepAliveTransport(open={self._open}, idle={idle}, max={self.max_connections})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("KeepAliveTransport is closed")
        if not isinstance(request.stream, httpx.ByteStream) or (
            sniffio.current_async_library() != "asyncio"
        ):
            return await self._fallback_transport().handle_async_request(request)
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Unsupported URL scheme {url.scheme!r}.")
        origin = (scheme, url.raw_host, url.port or DEFAULT_PORTS[scheme])
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        payload = serialize_request(request)
        method = request.method.encode("ascii")
        while True:
            conn = await self._acquire(origin, timeouts, request)
            reused = conn.used
            conn.used = True
            conn.answered = False
            try:
                assert conn.transport is not None
                conn.transport.write(payload)
                status, reason, headers, body, keep = await conn.read_response(
                    method, timeouts.get("read"), request
                )
            except (httpx.RemoteProtocolError, httpx.ReadError):
                self._discard(conn)
                # A kept-alive connection the server closed just as we sent: nothing was
                # answered, and repeating an idempotent request is safe (as urllib3 does).
                if reused and not conn.answered and method in IDEMPOTENT:
                    continue
                raise
            except BaseException:
                self._discard(conn)  # cancelled or failed mid-reply: its framing is unknown
                raise
            self._release(conn, keep)
            return httpx.Response(
                status,
                headers=headers,
                stream=httpx.ByteStream(body),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
            )

    async def aclose(self) -> None:
        self._closed = True
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._open -= sum(len(conns) for conns in self._idle.values())
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()

    # -- the pool -----------------------------------------------------------------------------

    async def _acquire(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> Connection:
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        while True:
            conn = self._take_idle(origin)
            if conn is not None:
                return conn
            if self._open >= self.max_connections:
                self._evict_one_idle()
            if self._open < self.max_connections:
                self._open += 1
                try:
                    return await self._connect(origin, timeouts.get("connect"), request)
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            await self._wait_for_slot(deadline, request)

    def _take_idle(self, origin: Origin) -> Connection | None:
        conns = self._idle.get(origin)
        now = time.monotonic()
        while conns:
            conn = conns.pop()  # the most recently used is the least likely to be stale
            if conn.reusable and now - conn.idle_since < self.keepalive_expiry:
                return conn
            conn.close()
            self._open -= 1
        return None

    def _evict_one_idle(self) -> None:
        for conns in self._idle.values():
            if conns:
                conns.pop(0).close()
                self._open -= 1
                return

    async def _wait_for_slot(self, deadline: float | None, request: httpx.Request) -> None:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        timer = None
        if deadline is not None:
            timer = loop.call_later(max(0.0, deadline - time.monotonic()), _pool_expire, waiter)
        try:
            await waiter
        except httpx.PoolTimeout:
            raise httpx.PoolTimeout(
                f"No connection free within the pool timeout ({self.max_connections} in use).",
                request=request,
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._wake_one()  # cancelled just after being handed a slot: pass it on
            raise
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, conn: Connection, keep: bool) -> None:
        if keep and not self._closed and conn.reusable:
            conn.idle_since = time.monotonic()
            origin = conn.origin
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
            self._open -= 1
        self._wake_one()

    def _discard(self, conn: Connection) -> None:
        conn.close()
        self._open -= 1
        self._wake_one()

    async def _connect(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        hostname = host.decode("ascii")
        tls = self._ssl_context() if scheme == b"https" else None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(loop),
                    hostname,
                    port,
                    ssl=tls,
                    server_hostname=hostname if tls is not None else None,
                ),
                timeout,
            )
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(
                f"Could not connect to {hostname}:{port} within {timeout} s.", request=request
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(
                f"Could not connect to {hostname}:{port}: {exc}", request=request
            ) from exc
        conn.origin = origin
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = httpx.create_ssl_context(verify=self._verify, trust_env=self._trust_env)
            ctx.set_alpn_protocols(["http/1.1"])
            self._ssl = ctx
        return self._ssl

    def _fallback_transport(self) -> httpx.AsyncHTTPTransport:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport(
                verify=self._verify,
                trust_env=self._trust_env,
                limits=httpx.Limits(max_connections=self.max_connections),
            )
        return self._fallback


def _pool_expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.PoolTimeout("No connection free within the pool timeout."))
