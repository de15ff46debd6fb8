"""The fake's videos: a real, small H.264 MP4 (a 3-second test pattern), served in-process.

The provider mounts `FakeVideoTransport` on the client's download `httpx.AsyncClient` for
`https://fake.videoprovider.invalid`, so a fake video is downloaded by the very code that
downloads real ones; the `.invalid` domain never resolves, so nothing can reach the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import cache
from importlib.resources import files

import httpx

HOST = "fake.videoprovider.invalid"
BASE_URL = f"https://{HOST}"
CHUNK = 2048


@cache
def sample_video() -> bytes:
    return (files(__package__) / "assets" / "testpattern.mp4").read_bytes()


def video_url(task_id: str) -> str:
    return f"{BASE_URL}/videos/{task_id}.mp4"


class _Body(httpx.AsyncByteStream):
    def __init__(self, data: bytes, drop: bool) -> None:
        self.data = data
        self.drop = drop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            if self.drop and start > 0:
                raise httpx.ReadError("connection dropped (fake download_fault=drop)")
            yield self.data[start : start + CHUNK]


class FakeVideoTransport(httpx.AsyncBaseTransport):
    """Answers `GET /videos/<task_id>.mp4` for completed tasks, 404 for anything else.

    `lookup(task_id)` returns None when there is no completed video, else whether the
    download should break off (`download_fault="drop"`).
    """

    def __init__(self, lookup: Callable[[str], bool | None]) -> None:
        self.lookup = lookup

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        task_id = path.removeprefix("/videos/").removesuffix(".mp4")
        drop = None
        if request.method == "GET" and path.startswith("/videos/") and path.endswith(".mp4"):
            drop = self.lookup(task_id)
        if drop is None:
            return httpx.Response(404, text="no such video", request=request)
        data = sample_video()
        headers = {"Content-Type": "video/mp4", "Content-Length": str(len(data))}
        return httpx.Response(200, headers=headers, stream=_Body(data, drop), request=request)
