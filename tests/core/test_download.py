from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from videoprovider.download import download_to, redact_url
from videoprovider.errors import DownloadError

pytestmark = pytest.mark.anyio

BODY = bytes(range(256)) * 1000  # 256 kB


def client(handler: httpx.MockTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=handler)


def serve(
    body: bytes = BODY, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    return httpx.MockTransport(lambda req: httpx.Response(status, content=body, headers=headers))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_streams_to_the_target_atomically(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    async with client(serve()) as http:
        path, size = await download_to(
            http,
            "https://v.example/a.mp4",
            tmp_path / "out.mp4",
            max_bytes=10**6,
            on_bytes=lambda n, t: seen.append((n, t)),
        )
    assert path.read_bytes() == BODY and size == len(BODY)
    assert leftovers(tmp_path) == ["out.mp4"]
    assert seen[-1] == (len(BODY), len(BODY))


async def test_directory_target_takes_a_safe_name_from_the_url(tmp_path: Path) -> None:
    async with client(serve()) as http:
        path, _ = await download_to(
            http, "https://v.example/x/..%2Fevil%20name.mp4?sig=1", tmp_path, max_bytes=10**6
        )
    assert path.parent == tmp_path and path.name == "evil_name.mp4"


async def test_creates_missing_parent_folders(tmp_path: Path) -> None:
    async with client(serve()) as http:
        path, _ = await download_to(
            http, "https://v/a.mp4", tmp_path / "a" / "b" / "v.mp4", max_bytes=10**6
        )
    assert path.exists()


async def test_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"precious")
    async with client(serve()) as http:
        with pytest.raises(DownloadError, match="already exists") as info:
            await download_to(http, "https://v/a.mp4", target, max_bytes=10**6)
        assert "overwrite=True" in str(info.value)
        assert target.read_bytes() == b"precious"
        await download_to(http, "https://v/a.mp4", target, max_bytes=10**6, overwrite=True)
    assert target.read_bytes() == BODY


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/a.mp4", "/local/file.mp4"])
async def test_only_http_urls_are_downloaded(tmp_path: Path, url: str) -> None:
    async with client(serve()) as http:
        with pytest.raises(DownloadError, match="only http and https"):
            await download_to(http, url, tmp_path / "x.mp4", max_bytes=10**6)
    assert leftovers(tmp_path) == []


async def test_declared_size_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    async with client(serve()) as http:
        with pytest.raises(DownloadError, match="over the download cap"):
            await download_to(http, "https://v/a.mp4", tmp_path / "x.mp4", max_bytes=1000)
    assert leftovers(tmp_path) == []


async def test_undeclared_size_is_capped_while_streaming(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    transport = httpx.MockTransport(lambda req: httpx.Response(200, content=chunks()))
    async with client(transport) as http:
        with pytest.raises(DownloadError, match="more than the download cap"):
            await download_to(http, "https://v/a.mp4", tmp_path / "x.mp4", max_bytes=5000)
    assert leftovers(tmp_path) == []


async def test_interrupted_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise httpx.ReadError("connection reset")

    transport = httpx.MockTransport(lambda req: httpx.Response(200, content=broken()))
    async with client(transport) as http:
        with pytest.raises(DownloadError, match="interrupted after 1000 bytes"):
            await download_to(
                http, "https://v/a.mp4?Signature=s3cret", tmp_path / "x.mp4", max_bytes=10**6
            )
    assert leftovers(tmp_path) == []


async def test_truncated_body_is_detected(tmp_path: Path) -> None:
    async def short() -> AsyncIterator[bytes]:
        yield b"x" * 10

    transport = httpx.MockTransport(
        lambda req: httpx.Response(200, content=short(), headers={"Content-Length": "100"})
    )
    async with client(transport) as http:
        with pytest.raises(DownloadError, match="ended after 10 of 100 bytes"):
            await download_to(http, "https://v/a.mp4", tmp_path / "x.mp4", max_bytes=10**6)
    assert leftovers(tmp_path) == []


async def test_http_error_status_is_reported_without_the_signature(tmp_path: Path) -> None:
    async with client(serve(b"gone", status=403)) as http:
        with pytest.raises(DownloadError) as info:
            await download_to(
                http,
                "https://v/a.mp4?Expires=1&Signature=s3cret",
                tmp_path / "x.mp4",
                max_bytes=10**6,
                context={"task_id": "t1", "provider": "p"},
            )
    assert info.value.http_status == 403 and info.value.task_id == "t1"
    assert "s3cret" not in str(info.value)
    assert leftovers(tmp_path) == []


def test_redact_url_drops_query_and_fragment() -> None:
    assert redact_url("https://h/p/v.mp4?Expires=1&Signature=x#frag") == "https://h/p/v.mp4"


async def test_saved_file_gets_the_umask_mode_not_a_private_temp_mode(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        async with client(serve()) as http:
            path, _ = await download_to(
                http, "https://v/a.mp4", tmp_path / "a.mp4", max_bytes=10**6
            )
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
