"""Local media files a request names as `pathlib.Path`: opened once, checked, read from there.

A host may pass its own users' input into a request, so a file is read only as it was
checked: opened without following a symlink at its name and without blocking on a FIFO,
`fstat`ed on the open descriptor (a regular file, not a kernel-made /proc or /sys entry, not
empty, within the provider's size limit), and its bytes come from that descriptor, never from
a second open of the name. Every provider that sends local files goes through here, so the
rule is written once (SECURITY.md, "Local files").
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio

from .errors import RequestRejected

__all__ = ["OpenFile", "open_checked", "read_checked"]

MIB = 1024 * 1024

# Opened without following a symlink at the last step (a name that points elsewhere is not
# the file that was named), and without blocking on a FIFO, so fstat can refuse it.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
# Kernel-made files (/proc/self/environ, /sys/...) look like regular files to stat.
_PSEUDO_ROOTS = ("/proc", "/sys")


@dataclass(frozen=True)
class OpenFile:
    """A checked local file, open: the request field that named it, its size, and the
    descriptor its bytes are read from (the file that was checked, whatever the name points
    to by then). Close it with `close()`."""

    field: str
    path: Path
    size: int
    handle: BinaryIO

    def close(self) -> None:
        self.handle.close()


def open_checked(path: Path, field: str, max_bytes: int, limit: str) -> OpenFile:
    """Open `path` for `field` and check the open file; raise RequestRejected naming the field
    when it is missing, a symlink, not a regular file (a FIFO, device, directory or /proc
    entry), unreadable, empty, or over `max_bytes`. `limit` says whose limit that is, as the
    start of a sentence ending "up to N MB": "DashScope takes image files"."""
    path = path.expanduser()
    where = f"{field}: {path}"
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(where, field, exc) from None
    try:
        # Checked before fdopen, which itself refuses a directory with a bare OSError.
        size = _check_open(fd, where, field, max_bytes, limit)
    except BaseException:
        os.close(fd)
        raise
    return OpenFile(field, path, size, os.fdopen(fd, "rb"))


async def read_checked(path: Path, field: str, max_bytes: int, limit: str) -> bytes:
    """The bytes of the checked file at `path`, opened and read in a worker thread (never on
    the event loop) and never more than the size that was checked."""

    def read() -> bytes:
        opened = open_checked(path, field, max_bytes, limit)
        try:
            return opened.handle.read(opened.size)
        finally:
            opened.close()

    return await anyio.to_thread.run_sync(read)


def _unreadable(where: str, field: str, exc: OSError) -> RequestRejected:
    if exc.errno == errno.ENOENT:
        why = "is not a file (it does not exist)"
    elif exc.errno == errno.ELOOP:
        why = (
            "is a symbolic link, which is not followed; pass the file it points to "
            "(Path.resolve()) if you mean that file"
        )
    else:
        why = f"cannot be read: {exc.strerror}"
    return RequestRejected(
        f"{where} {why}.", field=field, hint="Check the path; nothing was uploaded or submitted."
    )


def _check_open(fd: int, where: str, field: str, max_bytes: int, limit: str) -> int:
    st = os.fstat(fd)
    pseudo = {os.stat(root).st_dev for root in _PSEUDO_ROOTS if os.path.isdir(root)}
    if not stat.S_ISREG(st.st_mode) or st.st_dev in pseudo:
        raise RequestRejected(
            f"{where} is not a regular file (a directory, FIFO, device or /proc entry).",
            field=field,
            hint="Pass a media file; nothing was uploaded or submitted.",
        )
    if st.st_size == 0:
        raise RequestRejected(f"{where} is empty.", field=field)
    if st.st_size > max_bytes:
        raise RequestRejected(
            f"{where} is {st.st_size / MIB:.1f} MB; {limit} up to {max_bytes / MIB:g} MB.",
            field=field,
        )
    return st.st_size
