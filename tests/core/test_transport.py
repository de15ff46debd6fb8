"""KeepAliveTransport against a scripted HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
import trustme

from videoprovider.transport import KeepAliveTransport

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# reply(request head, connection number, request number on that connection): bytes to send,
# (bytes, True) to send them and close, or None to close the connection without answering.
Reply = Callable[[bytes, int, int], "bytes | tuple[bytes, bool] | None"]


@dataclass
class Server:
    reply: Reply
    url: str = ""
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    heads: list[bytes] = field(default_factory=list)
    hold: asyncio.Event | None = None  # when set, replies wait for it

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            for index in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                lower = head.lower()
                if b"transfer-encoding: chunked" in lower:
                    await reader.readuntil(b"0\r\n\r\n")
                elif b"content-length:" in lower:
                    length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                if self.hold is not None:
                    await self.hold.wait()
                answer = self.reply(head, number, index)
                if answer is None:
                    break
                data, close = answer if isinstance(answer, tuple) else (answer, False)
                writer.write(data)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Server]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(reply)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        server.url = f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"
        return server

    yield start  # type: ignore[misc]
    for srv in servers:
        srv.close()


def client(server: Server, **kwargs: object) -> httpx.AsyncClient:
    transport = KeepAliveTransport(**kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=5.0)


async def test_reuses_one_connection_for_sequential_requests(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    async with client(server) as http:
        for _ in range(20):
            assert (await http.get("/tasks/a?x=1")).text == "ok"
    assert server.connections == 1
    assert server.heads[0].startswith(b"GET /tasks/a?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in server.heads[0]


async def test_json_post_body_and_headers_arrive(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    async with client(server) as http:
        await http.post(
            "/submit", json={"prompt": "a cat"}, headers={"X-DashScope-Async": "enable"}
        )
    head = server.heads[0]
    assert head.startswith(b"POST /submit HTTP/1.1") and b"X-DashScope-Async: enable" in head
    assert b"Content-Length: 18" in head


async def test_chunked_reply_with_extensions_and_trailers(serve: Callable[..., Server]) -> None:
    body = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;x=y\r\n{"a"\r\n3\r\n:1}\r\n0\r\nT: v\r\n\r\n'
    )
    server = await serve(lambda head, c, i: body)
    async with client(server) as http:
        assert (await http.get("/")).json() == {"a": 1}
        assert (await http.get("/")).json() == {"a": 1}
    assert server.connections == 1


async def test_reply_framed_by_close_is_read_to_the_end(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: (b"HTTP/1.1 200 OK\r\n\r\nall of it", True))
    async with client(server) as http:
        assert (await http.get("/")).text == "all of it"
        assert (await http.get("/")).text == "all of it"
    assert server.connections == 2


async def test_connection_close_and_http10_are_not_reused(serve: Callable[..., Server]) -> None:
    replies = [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        OK,
    ]
    server = await serve(lambda head, c, i: replies[c - 1] if i == 0 else OK)
    async with client(server) as http:
        for _ in range(4):
            assert (await http.get("/")).text == "ok"
    assert server.connections == 3


async def test_head_204_and_interim_replies_carry_no_body(serve: Callable[..., Server]) -> None:
    def reply(head: bytes, c: int, i: int) -> bytes:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
        if i == 1:
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        return b"HTTP/1.1 100 Continue\r\n\r\n" + OK

    server = await serve(reply)
    async with client(server) as http:
        assert (await http.head("/")).content == b""
        assert (await http.get("/")).status_code == 204
        response = await http.get("/")
        assert (response.status_code, response.text, response.http_version) == (
            200,
            "ok",
            "HTTP/1.1",
        )
    assert server.connections == 1


async def test_gzip_bodies_are_decoded_by_httpx(serve: Callable[..., Server]) -> None:
    packed = gzip.compress(b'{"ok": true}')
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(packed),
        packed,
    )
    server = await serve(lambda head, c, i: reply)
    async with client(server) as http:
        assert (await http.get("/")).json() == {"ok": True}


async def test_idempotent_request_is_resent_when_a_kept_connection_dies_unanswered(
    serve: Callable[..., Server],
) -> None:
    server = await serve(lambda head, c, i: OK if i == 0 else None)
    async with client(server) as http:
        assert (await http.get("/")).text == "ok"
        assert (await http.get("/")).text == "ok"  # first try: closed unanswered, then resent
    assert server.connections == 2 and len(server.heads) == 3


async def test_post_is_never_resent_after_it_may_have_arrived(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK if i == 0 else None)
    async with client(server) as http:
        await http.post("/", content=b"1")
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/", content=b"2")
    assert len(server.heads) == 2


async def test_malformed_replies_are_protocol_errors(serve: Callable[..., Server]) -> None:
    replies = {
        1: b"SPDY/9 200 OK\r\n\r\n",
        2: b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        3: b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        4: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    }
    server = await serve(lambda head, c, i: (replies[c], True))
    async with client(server) as http:
        for _ in replies:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/")
        assert server.connections == 4


async def test_read_timeout_raises_and_drops_the_connection(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    server.hold = asyncio.Event()
    async with client(server) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/", timeout=httpx.Timeout(5.0, read=0.05))
        server.hold.set()
        assert (await http.get("/")).text == "ok"
    assert server.connections == 2


async def test_refused_connection_is_a_connect_error() -> None:
    with socket_closed_port() as port:
        async with httpx.AsyncClient(transport=KeepAliveTransport()) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")


async def test_pool_bounds_connections_and_times_out_waiters(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    server.hold = asyncio.Event()
    async with client(server, max_connections=2) as http:
        results: list[object] = []
        three_timed_out = anyio.Event()

        async def get() -> None:
            try:
                results.append((await http.get("/", timeout=httpx.Timeout(5.0, pool=0.05))).text)
            except httpx.PoolTimeout as exc:
                results.append(exc)
                if sum(isinstance(r, httpx.PoolTimeout) for r in results) == 3:
                    three_timed_out.set()

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(get)
            await three_timed_out.wait()  # while two connections hang on the server
            server.hold.set()
        assert results.count("ok") == 2
    assert server.most_open == 2


async def test_queued_requests_all_complete_on_few_connections(
    serve: Callable[..., Server],
) -> None:
    server = await serve(lambda head, c, i: OK)
    async with client(server, max_connections=3) as http:
        replies = await asyncio.gather(*(http.get("/") for _ in range(200)))
    assert {r.text for r in replies} == {"ok"} and server.most_open <= 3


async def test_cancelled_request_frees_its_slot(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    server.hold = asyncio.Event()
    async with client(server, max_connections=1) as http:
        async with anyio.create_task_group() as group:
            group.start_soon(http.get, "/")
            while not server.heads:  # cancel once the server holds the request
                await anyio.sleep(0)
            group.cancel_scope.cancel()
        server.hold.set()
        assert (await http.get("/")).text == "ok"
    assert server.connections == 2


async def test_line_breaks_in_headers_are_refused_before_sending(
    serve: Callable[..., Server],
) -> None:
    server = await serve(lambda head, c, i: OK)
    async with client(server) as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get("/", headers={"X-Evil": "a\r\nInjected: 1"})
    assert server.heads == []


async def test_streaming_bodies_take_the_fallback_transport(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)

    async def body() -> AsyncIterator[bytes]:
        yield b"part"

    async with client(server) as http:
        assert (await http.post("/", content=body())).text == "ok"
    assert b"transfer-encoding: chunked" in server.heads[0].lower()


async def test_tls_verifies_the_server(serve: Callable[..., Server]) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    server = await serve(lambda head, c, i: OK, tls=server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with client(server, verify=client_ctx) as http:
        assert (await http.get("/")).text == "ok"
        assert (await http.get("/")).text == "ok"
    assert server.connections == 1
    async with client(server) as http:  # the system's CAs do not trust this one
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get("/")


async def test_closed_transport_refuses_requests(serve: Callable[..., Server]) -> None:
    server = await serve(lambda head, c, i: OK)
    transport = KeepAliveTransport()
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        await http.get("/")
    assert "open=0" in repr(transport)
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", server.url))


class socket_closed_port:
    """A port on 127.0.0.1 with nothing listening."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
