"""The emulator base's streamed replies (server-sent events), framed by h11, on loopback."""

from collections.abc import AsyncIterator, Iterator
from functools import partial

import httpx
import pytest

from videoprovider.testing.emulator import Request, Response, base_url, in_thread, serve


async def _events(cut: bool) -> AsyncIterator[bytes]:
    yield b"data: 1\n\n"
    yield b"data: 2\n\n"
    if cut:
        raise ConnectionResetError("a dying server")
    yield b"data: 3\n\n"


async def _handler(request: Request) -> Response:
    if request.path == "/plain":
        return Response(200, b"plain")
    headers = {"Content-Type": "text/event-stream"}
    return Response(200, headers=headers, stream=_events(cut=request.path == "/cut"))


@pytest.fixture
def url() -> Iterator[str]:
    with in_thread(partial(serve, _handler, "127.0.0.1", 0)) as server:
        yield base_url(server, "127.0.0.1", None)


def test_a_streamed_reply_is_sent_chunked_and_the_connection_is_reused(url: str) -> None:
    with httpx.Client(base_url=url) as http:
        with http.stream("GET", "/events") as reply:
            assert reply.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in reply.headers
            body = b"".join(reply.iter_bytes())
        assert body == b"data: 1\n\ndata: 2\n\ndata: 3\n\n"
        assert http.get("/plain").content == b"plain"  # the same keep-alive connection


def test_a_stream_that_raises_cuts_the_connection_mid_body(url: str) -> None:
    with (
        httpx.Client(base_url=url) as http,
        http.stream("GET", "/cut") as reply,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        b"".join(reply.iter_bytes())
