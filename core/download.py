"""Saving a video: streamed to a temporary file beside the target, linked in only when whole.

A download that is interrupted, truncated or over the size cap leaves nothing at the target
path and never replaces an existing file unless asked to. The download client refuses, on
every redirect hop, hosts that resolve to loopback, private or link-local addresses (unless
allowed) and redirects from https to http, so a URL from a user cannot reach internal services.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import httpx

from .errors import DownloadError

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


def redact_url(url: str) -> str:
    """`url` without its query string and fragment: signed URLs carry credentials there."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()


class _RedactURLs(logging.Filter):
    """Strips query strings from the URLs httpx logs ("HTTP Request: GET <url> ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, httpx.URL) and a.query for a in record.args
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


def _kind(address: str) -> str | None:
    """Why `address` is not a public one, or None if it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"  # 169.254.169.254 is the cloud metadata service
    if ip.is_multicast or not ip.is_global:
        return "private"
    return None


class AddressGuard:
    """The download client's request hook: refuses hosts that resolve to loopback, private
    or link-local addresses before connecting.

    httpx runs request hooks before every redirect hop, so every hop is checked. A hook and
    not a transport, because httpx applies the environment's proxies only to transports it
    builds itself. The host is resolved here and again when connecting; a name that changes
    its answers in between (DNS rebinding) is not caught (SECURITY.md). A name that does not
    resolve here passes: connecting fails too, or a proxy from the environment resolves it.
    Hosts served by an in-process mount (the fake provider's) never reach the network.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        allow_private: bool = False,
        mounted: Collection[str] = (),
    ) -> None:
        self.allow_loopback = allow_loopback or allow_private
        self.allow_private = allow_private
        self.mounted = {httpx.URL(m).host for m in mounted}

    async def __call__(self, request: httpx.Request) -> None:
        if not self.allow_private and request.url.host not in self.mounted:
            await self._check(request.url)

    async def _check(self, url: httpx.URL) -> None:
        host = url.host
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                infos = await anyio.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
            except OSError:
                return
            addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            kind = _kind(address)
            if kind is None or (kind == "loopback" and self.allow_loopback):
                continue
            raise DownloadError(
                f"Refusing to download {redact_url(str(url))}: {host} is a {kind} address "
                f"({address}); videoprovider does not fetch from internal addresses.",
                hint="If that server is yours, set download_allow_private = true in your own "
                "config (or VIDEOPROVIDER_DOWNLOAD_ALLOW_PRIVATE=1).",
            )


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
) -> httpx.AsyncClient:
    """The httpx client downloads use: guarded network transport, checked redirects.

    httpx's own transport, so the environment's proxies and CAs apply as for API calls.
    `mounts` (in-process transports such as the fake provider's) bypass the guard: they never
    reach the network. `allow_loopback` is for providers whose service runs on this machine
    (the DashScope emulator); `allow_private` is the user's `download_allow_private`.
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
        event_hooks={"request": [guard], "response": [_refuse_downgrade]},
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
) -> tuple[Path, int]:
    """Stream `url` into `path`; return the final path and the number of bytes written."""
    ctx: dict[str, Any] = {k: v for k, v in (context or {}).items() if v is not None}
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(
            f"Refusing to download {redact_url(url)!r}: only http and https URLs are downloaded.",
            hint="Pass the video URL the provider returned.",
            **ctx,
        )
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
    try:
        with os.fdopen(fd, "wb") as out:
            written = await _stream(http, url, out, max_bytes, on_bytes, ctx)
            out.flush()
            os.fsync(out.fileno())
        _place(tmp, target, overwrite, ctx)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_save(target, exc, **ctx) from exc
        raise
    return target, written


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
    out: object,
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
                out.write(chunk)  # type: ignore[attr-defined]
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
