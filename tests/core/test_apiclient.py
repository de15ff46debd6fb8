"""Provider API calls against loopback servers that send chosen (often hostile) bytes.

Each case was mishandled by the hand-written HTTP/1.1 transport these calls used to go
through; httpx's own transport and `send_bounded` must refuse them promptly.
"""

import asyncio
import gzip
from collections.abc import Callable

import httpx
import pytest

from videoprovider.apiclient import (
    MAX_API_BYTES,
    ResponseTooLarge,
    api_client,
    describe,
    send_bounded,
)
from videoprovider.provider import ProviderContext

pytestmark = pytest.mark.anyio
RawServer = Callable[..., str]


async def get(base: str, max_bytes: int = MAX_API_BYTES) -> httpx.Response:
    timeout = httpx.Timeout(5.0, connect=5.0)
    async with api_client(
        ProviderContext(name="t"), base_url=base, headers={}, timeout=timeout
    ) as http:
        return await send_bounded(http, "GET", "/x", max_bytes=max_bytes)


async def test_a_small_reply_reads_whole_and_decoded(raw_server: RawServer) -> None:
    body = gzip.compress(b'{"ok": true}')
    base = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    response = await get(base)
    assert response.json() == {"ok": True}
    assert "content-encoding" not in response.headers


async def test_a_declared_length_over_the_limit_is_refused_unread(raw_server: RawServer) -> None:
    base = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n{")
    with pytest.raises(ResponseTooLarge, match="declares 999999999 bytes"):
        await get(base)


async def test_a_chunked_body_stops_at_the_limit(raw_server: RawServer) -> None:
    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        for _ in range(200):  # 12.5 MiB offered; the client must stop long before
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    with pytest.raises(ResponseTooLarge, match="limit of 1048576 bytes"):
        await get(raw_server(endless), max_bytes=1024 * 1024)


async def test_the_limit_counts_decoded_bytes_so_a_gzip_bomb_is_stopped(
    raw_server: RawServer,
) -> None:
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))
    assert len(bomb) < 100_000
    base = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(bomb), bomb)
    )
    with pytest.raises(ResponseTooLarge):
        await get(base)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (200 * 1024) + b"\r\n\r\n", id="huge-head"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
            id="conflicting-lengths",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n{}123", id="plus-length"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n{}123", id="hex-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            id="unknown-coding",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "
            + b"a" * (300 * 1024),
            id="trailer-without-end",
        ),
    ],
)
async def test_malformed_framing_is_a_protocol_error(raw_server: RawServer, reply: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError) as info:
        await get(raw_server(reply))
    assert not isinstance(info.value, ResponseTooLarge)


async def test_a_trailer_that_never_ends_hits_the_read_timeout(raw_server: RawServer) -> None:
    stop = asyncio.Event()

    async def stall(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: abc")
        await writer.drain()
        await stop.wait()  # never finishes the line; cancelled when the server stops

    timeout = httpx.Timeout(0.3, connect=5.0)
    async with api_client(
        ProviderContext(name="t"), base_url=raw_server(stall), headers={}, timeout=timeout
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await send_bounded(http, "GET", "/x")


def test_describe_names_the_error_and_its_reason() -> None:
    assert describe(httpx.ReadTimeout("")) == "ReadTimeout"
    assert describe(ResponseTooLarge("over 4")) == "ResponseTooLarge: over 4"
