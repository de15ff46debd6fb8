"""Saving a video: streamed to a temporary file beside the target, renamed in only when whole.

A download that is interrupted, truncated or over the size cap leaves nothing at the target
path and never replaces an existing file unless asked to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from .errors import DownloadError

__all__ = ["cannot_save", "check_writable", "download_to", "redact_http_logs", "redact_url"]

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


def target_path(path: str | os.PathLike[str], url: str, default_name: str) -> Path:
    """The file to write: `path` itself, or a name taken from the URL inside a directory."""
    target = Path(path).expanduser()
    if target.is_dir():
        name = _SAFE_NAME.sub("_", unquote(Path(urlsplit(url).path).name)).strip("._")
        target = target / (name or default_name)
    return target


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
        if target.exists() and not overwrite:
            raise DownloadError(f"{target} appeared while downloading; not replaced.", **ctx)
        os.replace(tmp, target)
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
    except httpx.HTTPError as exc:
        raise DownloadError(
            f"Downloading {shown} was interrupted after {written} bytes: {type(exc).__name__}.",
            **ctx,
        ) from exc
    return written


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
