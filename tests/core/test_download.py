import ipaddress
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import AsyncVideoClient
from videoprovider.addresses import address_kind as _kind
from videoprovider.download import download_client, download_to, redact_url
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


async def test_a_host_that_cannot_be_reached_is_named_without_a_retry_hint(
    tmp_path: Path,
) -> None:
    def unresolvable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    async with client(httpx.MockTransport(unresolvable)) as http:
        with pytest.raises(DownloadError) as info:
            await download_to(
                http,
                "https://videos.acme.example/a.mp4?Signature=s3cret",
                tmp_path / "x.mp4",
                max_bytes=10**6,
            )
    message = str(info.value)
    assert "Could not connect to videos.acme.example" in message
    assert "Name or service not known" in message and "s3cret" not in message
    assert "resolves" in info.value.hint and "Retry the download" not in message
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


class _Site(BaseHTTPRequestHandler):
    """A loopback server: /v.mp4 is a video, /to/<url> redirects there."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Site", (_Site,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join()


def guarded(**allow: bool) -> httpx.AsyncClient:
    options = {"allow_loopback": False, "allow_private": False, **allow}
    return download_client(mounts={}, timeout=httpx.Timeout(5.0), headers={}, **options)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_urls_are_refused_before_connecting(
    tmp_path: Path, site: tuple[str, list[str]], host: str
) -> None:
    root, seen = site
    url = root.replace("127.0.0.1", host) + "/v.mp4?sig=secret"
    async with guarded() as http:
        with pytest.raises(DownloadError, match="loopback") as info:
            await download_to(http, url, tmp_path / "v.mp4", max_bytes=10**7)
    assert "download_allow_private" in str(info.value) and "secret" not in str(info.value)
    assert seen == [] and leftovers(tmp_path) == []


async def test_loopback_is_allowed_when_asked(tmp_path: Path, site: tuple[str, list[str]]) -> None:
    root, seen = site
    for allow in ("allow_loopback", "allow_private"):
        async with guarded(**{allow: True}) as http:
            saved, _ = await download_to(http, f"{root}/v.mp4", tmp_path / allow, max_bytes=10**7)
        assert saved.read_bytes() == BODY
    assert seen == ["/v.mp4", "/v.mp4"]


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin"]
)
async def test_every_redirect_hop_is_checked(
    tmp_path: Path, site: tuple[str, list[str]], target: str
) -> None:
    root, seen = site
    async with guarded(allow_loopback=True) as http:
        with pytest.raises(DownloadError, match=r"link-local|private"):
            await download_to(http, f"{root}/to/{target}", tmp_path / "v.mp4", max_bytes=10**7)
    assert seen == [f"/to/{target}"] and leftovers(tmp_path) == []


async def test_a_redirect_from_https_to_http_is_refused(tmp_path: Path) -> None:
    asked: list[str] = []

    def videos(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.scheme == "https":
            return httpx.Response(302, headers={"Location": "http://videos.example/v.mp4"})
        return httpx.Response(200, content=BODY)

    mounts = {"all://videos.example": httpx.MockTransport(videos)}
    options = {"timeout": httpx.Timeout(5.0), "headers": {}}
    http = download_client(mounts=mounts, allow_loopback=False, allow_private=False, **options)
    async with http:
        with pytest.raises(DownloadError, match="clear text"):
            await download_to(http, "https://videos.example/v", tmp_path / "v.mp4", max_bytes=10**7)
    assert asked == ["https://videos.example/v"] and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "private"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        # IPv6 forms that carry an IPv4 host, judged by it (Python calls most of them global)
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of the metadata service
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("64:ff9b:1::1", "private"),  # local-use NAT64
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local"),
        ("::7f00:1", "loopback"),  # IPv4-compatible
        ("::a9fe:a9fe", "link-local"),
        ("fec0::1", "private"),  # site-local
        ("64:ff9b::808:808", None),  # NAT64 of a public address stays public
        ("2002:808:808::1", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert _kind(address) == kind


def _embeddings(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    n = int(v4)
    return [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | n),
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),
        ipaddress.IPv6Address(n) if n > 1 else ipaddress.IPv6Address(f"::ffff:{v4}"),
    ]


@given(st.ip_addresses(v=4))
def test_an_embedded_ipv4_address_is_judged_at_least_as_strictly_as_itself(
    v4: ipaddress.IPv4Address,
) -> None:
    for v6 in _embeddings(v4):
        assert v6.ipv4_mapped == v4 or v6.sixtofour == v4 or int(v6) & 0xFFFFFFFF == int(v4)
        if _kind(str(v4)) is not None:
            assert _kind(str(v6)) is not None, v6


@given(st.ip_addresses())
def test_no_address_python_calls_non_global_is_public(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if not ip.is_global or ip.is_multicast:
        assert _kind(str(ip)) is not None


async def test_a_name_that_does_not_resolve_is_refused_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_such_name(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr("anyio.getaddrinfo", no_such_name)
    sent: list[str] = []

    def network(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(200, content=BODY)

    options = {"timeout": httpx.Timeout(5.0), "headers": {}}
    http = download_client(mounts={}, allow_loopback=False, allow_private=False, **options)
    http._transport = httpx.MockTransport(network)  # the network, behind the guard's hook
    async with http:
        with pytest.raises(DownloadError, match="does not resolve") as info:
            await download_to(http, "https://nowhere.invalid/v.mp4", tmp_path, max_bytes=10**7)
    assert sent == [] and "download_allow_private" in (info.value.hint or "")


async def test_a_file_appearing_at_the_last_moment_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "v.mp4"
    real_link, real_replace = os.link, os.replace

    def other_writer_first(real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def move(src: Any, dst: Any) -> None:
            if Path(dst) == target:
                target.write_bytes(b"theirs")  # another process wins the race just now
            real(src, dst)

        return move

    monkeypatch.setattr(os, "link", other_writer_first(real_link))
    monkeypatch.setattr(os, "replace", other_writer_first(real_replace))
    with pytest.raises(DownloadError, match="appeared"):
        await download_to(client(serve()), "https://x/v.mp4", target, max_bytes=10**7)
    monkeypatch.undo()
    assert target.read_bytes() == b"theirs" and leftovers(tmp_path) == ["v.mp4"]


async def test_without_hard_links_the_video_is_still_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: Any, dst: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    saved, _ = await download_to(client(serve()), "https://x/v.mp4", tmp_path, max_bytes=10**7)
    assert saved.read_bytes() == BODY and leftovers(tmp_path) == ["v.mp4"]


@pytest.mark.parametrize("allow", [False, True])
async def test_the_client_refuses_internal_urls_unless_the_user_allows_them(
    tmp_path: Path, site: tuple[str, list[str]], allow: bool
) -> None:
    root, seen = site
    async with AsyncVideoClient(
        "fake", config=False, environ={}, download_allow_private=allow
    ) as c:
        if allow:
            assert (await c.download_url(f"{root}/v.mp4", tmp_path)).read_bytes() == BODY
        else:
            with pytest.raises(DownloadError, match="loopback"):
                await c.download_url(f"{root}/v.mp4", tmp_path)
    assert seen == (["/v.mp4"] if allow else [])


class _Trickle(BaseHTTPRequestHandler):
    """Sends a 40-byte video one byte at a time, a byte every 0.25 s (10 s in all), until
    the test is over."""

    stop: threading.Event

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "40")
        self.end_headers()
        try:
            for _ in range(40):
                if self.stop.wait(0.25):
                    return
                self.wfile.write(b"x")
                self.wfile.flush()
        except OSError:
            pass  # the client gave up

    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_download_timeout_bounds_the_whole_download_not_each_read(
    tmp_path: Path,
) -> None:
    stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("T", (_Trickle,), {"stop": stop}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # Each read arrives well within its own timeout; only the whole download is late.
        http = download_client(
            mounts={},
            timeout=httpx.Timeout(5.0, read=5.0),
            headers={},
            allow_loopback=True,
            allow_private=False,
        )
        async with http:
            with pytest.raises(DownloadError, match="longer than the download_timeout of 1 s"):
                await download_to(
                    http,
                    f"http://127.0.0.1:{server.server_address[1]}/v.mp4",
                    tmp_path / "v.mp4",
                    max_bytes=10**6,
                    timeout=1.0,
                )
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()
    assert leftovers(tmp_path) == []


async def test_file_writes_and_fsync_run_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    calls: list[tuple[str, bool]] = []

    def watch(name: str) -> None:
        real = getattr(os, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if any(isinstance(a, (int, Path)) for a in args[:1]):
                calls.append((name, threading.get_ident() == loop_thread))
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, call)

    for name in ("open", "write", "fsync", "link", "replace"):
        watch(name)
    async with client(serve()) as http:
        path, _ = await download_to(http, "https://x/v.mp4", tmp_path / "v.mp4", max_bytes=10**7)
    monkeypatch.undo()
    assert path.read_bytes() == BODY
    names = {name for name, _ in calls}
    assert {"open", "write", "fsync", "link"} <= names
    assert [c for c in calls if c[1]] == []  # none of them on the loop's thread


def test_a_short_url_name_is_kept_in_a_folder_and_a_long_one_replaced(tmp_path: Path) -> None:
    from videoprovider.download import target_path, video_name

    short = target_path(tmp_path, "https://cdn.example/v/cat.mp4?sig=x", "fallback.mp4")
    assert short == tmp_path / "cat.mp4"
    long = target_path(tmp_path, f"https://cdn.example/{'a' * 150}.mp4", "fallback.mp4")
    assert long == tmp_path / "fallback.mp4"
    assert video_name("fake", "x" * 150) == video_name("fake", "x" * 150) != video_name("fake", "y")
    assert re.fullmatch(r"fake-[0-9a-f]{12}\.mp4", video_name("fake", "x" * 150))
