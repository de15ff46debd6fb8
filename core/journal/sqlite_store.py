"""The embedded journal: one SQLite file (stdlib `sqlite3`), created private."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..clock import Clock
from ..config import InsecurePermissionsWarning
from ..errors import ConfigurationError
from .sql import TABLE, Journal, Statement

__all__ = ["SQLiteJournal", "default_path"]

T = TypeVar("T")


class SQLiteJournal(Journal):
    """The embedded default: one SQLite file in WAL mode, shared by processes on one host."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        self.clock = clock or self.clock
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        if self.path.is_dir():
            raise ConfigurationError(
                f"The journal_url {str(self.path)!r} is a folder; the journal is a file.",
                hint=f"Set journal_url to a file in it, e.g. {self.path / 'journal.sqlite3'}.",
            )
        self._lock = threading.Lock()
        try:
            _create_private(self.path)
            # One connection per journal object, used from whichever thread runs the
            # client; the lock keeps statements from interleaving.
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._init_schema()
            _warn_if_readable(self.path)
        except (OSError, sqlite3.DatabaseError) as exc:
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise  # another process holds it longer than the busy timeout: not the path
            raise ConfigurationError(
                f"The journal_url {str(self.path)!r} cannot hold the journal: "
                f"{getattr(exc, 'strerror', None) or exc}.",
                hint="Set journal_url to a path of a new or existing journal file in a folder "
                "you can write to (or pass --no-journal).",
            ) from exc

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        with self._lock:
            return self._db.execute(sql, params or {}).rowcount

    def _query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
        with self._lock:
            return list(self._db.execute(sql, params or {}).fetchall())

    def _atomically(self, steps: Callable[[Statement], T]) -> T:
        with self._lock:
            # IMMEDIATE takes the write lock at once (waiting up to the busy timeout), so
            # what the steps read cannot change before they write.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = steps(lambda sql, params: list(self._db.execute(sql, params).fetchall()))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return result

    def _columns(self) -> set[str]:
        return {row[1] for row in self._query(f"PRAGMA table_info({TABLE})")}

    def close(self) -> None:
        self._db.close()


_warned: set[Path] = set()


def _create_private(path: Path) -> None:
    """Create the journal's folder 0700 and its file 0600 before SQLite opens it.

    The journal holds prompts, input media URLs (pre-signed ones included) and file paths.
    SQLite gives the -wal and -shm files the database file's mode, so they stay private too.
    Existing files are left as they are (see `_warn_if_readable`).
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _warn_if_readable(path: Path) -> None:
    """Warn once if others can read an existing journal file (checked once it opened as
    one: the advice is for the journal's file and its -wal and -shm companions)."""
    if os.name != "posix" or path in _warned:
        return  # Windows protects the profile folder with ACLs, not mode bits
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        _warned.add(path)
        warnings.warn(
            f"The journal {path} can be read by other users (mode {mode & 0o777:o}); it holds "
            f"prompts and media URLs. Run: chmod 600 {path}*",
            InsecurePermissionsWarning,
            stacklevel=4,
        )


def default_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("videoprovider")) / "journal.sqlite3"
