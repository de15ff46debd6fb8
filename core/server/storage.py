"""Where the gateway keeps finished videos: a local folder (the default) or an fsspec URL.

`[server] storage` is a path (a folder, served by Starlette's FileResponse as before) or a
URL fsspec opens (`s3://bucket/prefix` through s3fs, `memory://`, `file://`, any backend
installed). A video reaches either one complete or not at all: into a folder the download
itself renames its finished file into place (download.py); to an fsspec store the file,
downloaded to the local spool first, is put under a temporary key beside its own and then
moved, so no reader ever sees half a video.

Credentials never pass through here: s3fs (botocore) reads them from the environment and
the AWS config files, and a storage URL holding any is refused (settings.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import ConfigurationError

__all__ = ["FolderStorage", "FsspecStorage", "Storage", "StorageError", "open_storage"]

log = logging.getLogger("videoprovider.server.storage")
MEDIA_TYPE = "video/mp4"
# How much an fsspec file reads ahead per request to the store: a Range of a few bytes
# costs one small GET, not s3fs's default 50 MiB block.
READ_BLOCK = 1024**2


class StorageError(Exception):
    """Storing or removing a video failed on the storage's side; the message holds no
    credentials (botocore's and fsspec's messages name the operation, bucket and key)."""


class Storage(ABC):
    """One place finished videos are kept. A video's *location* (the `path` the store keeps)
    is what `keep` returned: a file path or a URL."""

    spool: Path
    """A local folder for uploads on their way to a provider and videos on their way in."""

    @abstractmethod
    def download_target(self, video_id: str) -> Path:
        """The local file the provider's video is downloaded to."""

    @abstractmethod
    async def prepare(self) -> None:
        """Create what the storage needs before the first video (at the gateway's start)."""

    @abstractmethod
    async def keep(self, video_id: str, downloaded: Path) -> str:
        """Store the complete file `downloaded` as the video's; its location. Raises
        StorageError, leaving `downloaded` in place for the next try."""

    @abstractmethod
    async def response(self, location: str, filename: str) -> Response | None:
        """The video at `location` as a response that honours Range, or None when it is
        gone."""

    @abstractmethod
    async def remove(self, location: str) -> None:
        """Delete the video at `location` (nothing when it is already gone)."""


class FolderStorage(Storage):
    """A local folder: the video is downloaded straight into it and served from it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spool = folder / "uploads"

    def __repr__(self) -> str:
        return f"FolderStorage({str(self.folder)!r})"

    def download_target(self, video_id: str) -> Path:
        return self.folder / f"{video_id}.mp4"

    async def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def keep(self, video_id: str, downloaded: Path) -> str:
        return str(downloaded)

    async def response(self, location: str, filename: str) -> Response | None:
        path = Path(location)
        if not path.is_file():
            return None
        return FileResponse(path, media_type=MEDIA_TYPE, filename=filename)

    async def remove(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)


class FsspecStorage(Storage):
    """An fsspec URL (`s3://bucket/prefix`, `memory://videos`, `file:///srv/videos`)."""

    def __init__(self, url: str, spool: Path) -> None:
        fsspec = _import_fsspec(url)
        if not hasattr(FileResponse, "_open_file"):
            # Range requests are served by FileResponse itself, reading through the file
            # it opens in _open_file (starlette 1.8+); without that hook it would open the
            # URL as a local path.
            raise ConfigurationError(
                f"server.storage = {url!r} needs starlette 1.8 or later to serve /content.",
                hint='pip install -U "starlette>=1.8"',
            )
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            hint = 'pip install "videoprovider[s3]"' if url.startswith("s3") else str(exc)
            raise ConfigurationError(
                f"server.storage = {url!r} needs a package for its protocol.", hint=hint
            ) from None
        except ValueError as exc:
            raise ConfigurationError(f"server.storage = {url!r}: {exc}.") from None
        self.url = url
        self.root = root.rstrip("/")
        self.spool = spool

    def __repr__(self) -> str:
        return f"FsspecStorage({self.url!r})"

    def _location(self, name: str) -> str:
        return str(self.fs.unstrip_protocol(f"{self.root}/{name}"))

    def download_target(self, video_id: str) -> Path:
        return self.spool / f"{video_id}.mp4"

    async def prepare(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        from fsspec.implementations.local import LocalFileSystem

        # Only a file:// folder is created: on S3 makedirs would create the bucket, which
        # the operator decides on (region, policy); a missing one fails each store, retried.
        if isinstance(self.fs, LocalFileSystem):
            await anyio.to_thread.run_sync(partial(self.fs.makedirs, self.root, exist_ok=True))

    async def keep(self, video_id: str, downloaded: Path) -> str:
        final = self._location(f"{video_id}.mp4")
        partial_key = self._location(f".{video_id}.{secrets.token_hex(4)}.part")
        try:
            await anyio.to_thread.run_sync(self.fs.put_file, str(downloaded), partial_key)
            await anyio.to_thread.run_sync(self.fs.mv, partial_key, final)
        except Exception as exc:
            await self._forget(partial_key)
            raise StorageError(f"storing {video_id} at {self.url} failed: {_said(exc)}") from None
        downloaded.unlink(missing_ok=True)
        return final

    async def _forget(self, location: str) -> None:
        try:
            await self.remove(location)
        except StorageError as exc:
            log.warning("%s", exc)

    async def response(self, location: str, filename: str) -> Response | None:
        try:
            info = await anyio.to_thread.run_sync(self.fs.info, location)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise StorageError(f"reading {location} failed: {_said(exc)}") from None
        return StoredFileResponse(
            self.fs, location, _stat(info), media_type=MEDIA_TYPE, filename=filename
        )

    async def remove(self, location: str) -> None:
        if "://" not in location:  # a file kept in a folder before storage moved
            Path(location).unlink(missing_ok=True)
            return
        try:
            await anyio.to_thread.run_sync(self.fs.rm_file, location)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise StorageError(f"removing {location} failed: {_said(exc)}") from None


class StoredFileResponse(FileResponse):
    """Starlette's FileResponse over a file in an fsspec store: its own Range, If-Range, HEAD
    and multipart handling, reading through `fs.open` instead of the local file system."""

    def __init__(
        self,
        fs: Any,
        location: str,
        stat_result: os.stat_result,
        media_type: str,
        filename: str,
    ) -> None:
        super().__init__(
            location, stat_result=stat_result, media_type=media_type, filename=filename
        )
        self._fs = fs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A server offering http.response.pathsend would be handed the URL to open itself.
        extensions = {
            k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"
        }
        await super().__call__({**scope, "extensions": extensions}, receive, send)

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        opened = await anyio.to_thread.run_sync(
            partial(self._fs.open, str(self.path), "rb", block_size=READ_BLOCK)
        )
        file: anyio.AsyncFile[bytes] = anyio.wrap_file(opened)
        try:
            yield file
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()


def open_storage(setting: str, spool: Path) -> Storage:
    """The storage `[server] storage` names: a URL with a protocol goes to fsspec, anything
    else is a local folder."""
    if "://" in setting:
        return FsspecStorage(setting, spool)
    return FolderStorage(Path(setting))


def _import_fsspec(url: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise ConfigurationError(
            f"server.storage = {url!r} is a URL, which the gateway opens with fsspec.",
            hint='pip install "videoprovider[server]" (fsspec), plus "videoprovider[s3]" '
            "for s3:// URLs.",
        ) from None
    return fsspec


def _stat(info: dict[str, Any]) -> os.stat_result:
    """What FileResponse reads of a stat (size; mtime for Last-Modified and the ETag) from
    fsspec's info, whose time field differs by backend."""
    when = next(
        (info[k] for k in ("LastModified", "mtime", "created", "last_modified") if k in info),
        0.0,
    )
    if isinstance(when, datetime):
        when = when.timestamp()
    size = int(info.get("size") or 0)
    return os.stat_result((stat.S_IFREG | 0o600, 0, 0, 1, 0, 0, size, 0, float(when), 0))


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
