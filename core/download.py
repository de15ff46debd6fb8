"""Saving a video: streamed to a temporary file beside the target, linked in only when whole.

A download that is interrupted, truncated, over the size cap or over its time leaves nothing
at the target path and never replaces an existing file unless asked to. File work runs in
worker threads, off the event loop. The download client refuses, on
every redirect hop, hosts that resolve to loopback, private or link-local addresses (unless
allowed) and redirects from https to http, so a URL from a user cannot reach internal services.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import httpx

from .addresses import AddressGuard
from .errors import DownloadError
from .redact import redact_url

__all__ = [
    "AddressGuard",
    "cannot_save",
    "check_target",
    "check_writable",
    "download_client",
    "download_to",
    "redact_http_logs",
    "redact_url",
]

MAX_REDIRECTS = 5

ProgressFn = Callable[[int, "int | None"], None]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class _RedactURLs(logging.Filter):
    """Strips query strings and passwords from the URLs httpx logs ("HTTP Request: GET
    <url> ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, httpx.URL) and (a.query or a.userinfo) for a in record.args
        ):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def redact_http_logs() -> None:
    """Keep signed video URLs out of httpx's request log (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactURLs) for f in logger.filters):
        logger.addFilter(_RedactURLs())


async def _refuse_downgrade(response: httpx.Response) -> None:
    if response.has_redirect_location and response.request.url.scheme == "https":
        target = response.request.url.join(response.headers["location"])
        if target.scheme != "https":
            raise DownloadError(
                f"Refusing the redirect from {redact_url(str(response.request.url))} to "
                f"{redact_url(str(target))}: it leaves https for clear text.",
                hint="Ask the video's host for an https URL.",
            )


def download_client(
    *,
    mounts: Mapping[str, httpx.AsyncBaseTransport],
    timeout: httpx.Timeout,
    headers: Mapping[str, str],
    allow_loopback: bool,
    allow_private: bool,
    credentials: Callable[[httpx.Request], Awaitable[None]] | None = None,
) -> httpx.AsyncClient:
    """The httpx client downloads use: guarded network transport, checked redirects.

    httpx's own transport, so the environment's proxies and CAs apply as for API calls.
    `mounts` (in-process transports such as the fake provider's) bypass the guard: they never
    reach the network. `allow_loopback` is for providers whose service runs on this machine
    (the DashScope emulator); `allow_private` is the user's `download_allow_private`.
    `credentials` (a `download_credentials.CredentialHeaders`) adds a provider's key to the
    hops that need it.
    """
    guard = AddressGuard(
        allow_loopback=allow_loopback, allow_private=allow_private, mounted=list(mounts)
    )
    return httpx.AsyncClient(
        mounts=dict(mounts),
        timeout=timeout,
        headers=dict(headers),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        event_hooks={
            "request": [guard, *([credentials] if credentials else [])],
            "response": [_refuse_downgrade],
        },
    )


MAX_URL_NAME = 64  # characters: a longer file name in a URL is an id, not a name


def target_path(path: str | os.PathLike[str], url: str, default_name: str) -> Path:
    """The file to write: `path` itself, or inside a directory the URL's file name when it
    is short (at most MAX_URL_NAME characters), else `default_name`."""
    target = Path(path).expanduser()
    if target.is_dir():
        name = _SAFE_NAME.sub("_", unquote(Path(urlsplit(url).path).name)).strip("._")
        target = target / (name if 0 < len(name) <= MAX_URL_NAME else default_name)
    return target


def video_name(provider: str, task_id: str | None) -> str:
    """A short file name for a task's video saved into a folder: `<provider>-<12 hex>.mp4`,
    the same for the same task (a digest of its id, which may run to 150 characters)."""
    if not task_id:
        return "video.mp4"
    return f"{provider}-{hashlib.sha256(task_id.encode()).hexdigest()[:12]}.mp4"


async def download_to(
    http: httpx.AsyncClient,
    url: str,
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    overwrite: bool = False,
    default_name: str = "video.mp4",
    on_bytes: ProgressFn | None = None,
    context: dict[str, str | None] | None = None,
    timeout: float | None = None,
) -> tuple[Path, int]:
    """Stream `url` into `path`; return the final path and the number of bytes written.

    `timeout` bounds the whole download, however slowly the bytes come (each read has the
    client's own, shorter timeout too). Files are created, written, synced and moved in a
    worker thread, so a slow disk never blocks the event loop.
    """
    ctx: dict[str, Any] = {k: v for k, v in (context or {}).items() if v is not None}
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(
            f"Refusing to download {redact_url(url)!r}: only http and https URLs are downloaded.",
            hint="Pass the video URL the provider returned.",
            **ctx,
        )
    target, fd, tmp = await anyio.to_thread.run_sync(
        _begin, path, url, default_name, overwrite, ctx
    )
    sink = _Sink(fd)
    try:
        with anyio.move_on_after(math.inf if timeout is None else timeout) as deadline:
            written = await _stream(http, url, sink, max_bytes, on_bytes, ctx)
        if deadline.cancelled_caught:
            raise DownloadError(
                f"Downloading {redact_url(url)} took longer than the download_timeout of "
                f"{timeout:g} s; stopped after {sink.received} bytes.",
                hint="Raise download_timeout for large videos or slow links, then collect "
                "the video again.",
                **ctx,
            )
        await sink.finish()
        await anyio.to_thread.run_sync(_place, tmp, target, overwrite, ctx)
    except BaseException as exc:
        sink.abandon()
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_save(target, exc, **ctx) from exc
        raise
    return target, written


def _begin(
    path: str | os.PathLike[str], url: str, default_name: str, overwrite: bool, ctx: Any
) -> tuple[Path, int, Path]:
    """The target, and an open temporary file beside it (in a worker thread: it stats,
    creates folders and files)."""
    target = target_path(path, url, default_name).absolute()
    if target.exists() and not overwrite:
        raise DownloadError(
            f"{target} already exists; videoprovider never replaces a file unless asked.",
            hint="Choose another path, or pass overwrite=True (CLI: --overwrite).",
            **ctx,
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(target)
    except OSError as exc:
        raise cannot_save(target, exc, **ctx) from exc
    return target, fd, tmp


class _Sink:
    """Where a download's bytes go: gathered in memory, written by a worker thread."""

    FLUSH_BYTES = 1024 * 1024

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._buffer = bytearray()
        self.received = 0

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.received += len(chunk)
        if len(self._buffer) >= self.FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        if data and self._fd is not None:
            await anyio.to_thread.run_sync(_write_all, self._fd, data)

    async def finish(self) -> None:
        """Write what is left, sync it to disk and close the file."""
        await self._flush()
        fd, self._fd = self._fd, None
        if fd is not None:
            await anyio.to_thread.run_sync(_sync_and_close, fd)

    def abandon(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(path: str | os.PathLike[str], default_name: str = "video.mp4") -> Path:
    """Prove a video can be saved at `path` (a file, or a directory to save into) before
    anything is paid for: create its folder, then create and remove a temporary file beside
    it, as the download will. Return the target file; raise `OSError` when that fails."""
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        target = target / default_name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(target)
    os.close(fd)
    tmp.unlink()
    return target


def cannot_save(
    target: Path, exc: OSError, *, hint: str | None = None, **ctx: Any
) -> DownloadError:
    """The DownloadError for an OS refusal to save at `target`, naming the path and why."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None and str(exc.filename) != str(target):
        reason = f"{reason}: {exc.filename}"
    return DownloadError(
        f"Cannot save the video to {target} ({reason}).",
        hint=hint or "Free some disk space or choose a folder you can write to.",
        **ctx,
    )


def check_target(path: str | os.PathLike[str], *, overwrite: bool) -> str:
    """Refuse, before anything is submitted, a target a video could not be saved at now;
    return it as an absolute path, for the journal."""
    target = Path(path).expanduser()
    if not overwrite and target.exists() and not target.is_dir():
        raise DownloadError(
            f"{target} already exists; videoprovider never replaces a file unless asked. "
            "Nothing was submitted.",
            hint="Choose another path, or pass overwrite=True (CLI: --overwrite).",
        )
    try:
        check_writable(path)
    except OSError as exc:
        raise cannot_save(
            target.absolute(),
            exc,
            hint="Choose a folder you can write to, or fix its permissions. Nothing was submitted.",
        ) from None
    return str(target.absolute())


async def _stream(
    http: httpx.AsyncClient,
    url: str,
    out: _Sink,
    max_bytes: int,
    on_bytes: ProgressFn | None,
    ctx: dict[str, Any],
) -> int:
    shown = redact_url(url)
    written = 0
    try:
        async with http.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise DownloadError(
                    f"Downloading {shown} failed with HTTP {resp.status_code}.",
                    hint="The URL may have expired; get a fresh one with url(task).",
                    http_status=resp.status_code,
                    retryable=resp.status_code == 429 or resp.status_code >= 500,
                    **ctx,
                )
            length = _content_length(resp)
            if length is not None and length > max_bytes:
                raise DownloadError(
                    f"{shown} is {length} bytes, over the download cap of {max_bytes}.",
                    hint="Raise download_max_bytes if the video is expected to be this large.",
                    **ctx,
                )
            async for chunk in resp.aiter_bytes():
                written += len(chunk)
                if written > max_bytes:
                    raise DownloadError(
                        f"{shown} sent more than the download cap of {max_bytes} bytes; stopped.",
                        hint="Raise download_max_bytes if the video is expected to be this large.",
                        **ctx,
                    )
                await out.write(chunk)
                if on_bytes is not None:
                    on_bytes(written, length)
            if length is not None and written != length:
                raise DownloadError(f"{shown} ended after {written} of {length} bytes.", **ctx)
    except httpx.ConnectError as exc:
        # No connection was made, so "retry the download" would only fail the same way
        # while the host does not resolve or cannot be reached.
        host = httpx.URL(url).host
        raise DownloadError(
            f"Could not connect to {host} to download {shown}: {str(exc) or type(exc).__name__}.",
            hint=f"Check that {host} resolves and can be reached from this machine (DNS, "
            "proxy, firewall), then collect the video again.",
            **ctx,
        ) from exc
    except httpx.HTTPError as exc:
        raise DownloadError(
            f"Downloading {shown} was interrupted after {written} bytes: {type(exc).__name__}.",
            retryable=True,
            **ctx,
        ) from exc
    return written


def _place(tmp: Path, target: Path, overwrite: bool, ctx: dict[str, Any]) -> None:
    """Move the finished temporary file to `target`; without `overwrite`, never replace a
    file, even one that appeared a moment ago: a hard link fails if the name exists."""
    if overwrite:
        os.replace(tmp, target)
        return
    appeared = DownloadError(f"{target} appeared while downloading; not replaced.", **ctx)
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise appeared from None
    except OSError:
        # No hard links here (FAT, some network shares): check, then rename, which leaves a
        # moment in which a file appearing at `target` is replaced.
        if target.exists():
            raise appeared from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _create_temp(target: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its 0600 mode would make the saved video unreadable to others
    # where the user's umask says it should be; os.open with 0666 applies the umask.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _content_length(resp: httpx.Response) -> int | None:
    # A compressed body's Content-Length counts the compressed bytes, not what we write, so
    # it says nothing about the file's size; the cap then applies to the decoded bytes.
    if resp.headers.get("content-encoding", "identity").lower() != "identity":
        return None
    value = resp.headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
