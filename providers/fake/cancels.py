"""The cancels the fake remembers across processes, as a real service remembers them.

Everything else about a fake task is in its id, so any process can answer for it; a cancel
is the one thing that happens to a task later, so it is kept in a small SQLite file that
every process reads (by default in the user data dir; the `cancel_file` setting moves it).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from videoprovider.errors import ConfigurationError

__all__ = ["CancelLedger", "default_path"]

SCHEMA = "CREATE TABLE IF NOT EXISTS canceled (task_id TEXT PRIMARY KEY)"


def default_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("videoprovider")) / "fake-cancels.sqlite3"


class CancelLedger:
    """The set of canceled fake task ids, shared through `path` by every process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        # Reading never creates the file: a fake that nobody cancels leaves nothing behind.
        if self._db is None and (create or self.path.exists()):
            try:
                if create:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                db.execute(SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise self._unusable(exc) from exc
            self._db = db
        return self._db

    def _run(self, sql: str, task_id: str, create: bool) -> list[tuple[str]]:
        with self._lock:
            db = self._connect(create)
            if db is None:
                return []
            try:
                return list(db.execute(sql, (task_id,)).fetchall())
            except sqlite3.Error as exc:
                raise self._unusable(exc) from exc

    def __contains__(self, task_id: str) -> bool:
        return bool(self._run("SELECT task_id FROM canceled WHERE task_id = ?", task_id, False))

    def add(self, task_id: str) -> None:
        self._run("INSERT OR IGNORE INTO canceled (task_id) VALUES (?)", task_id, True)

    def forget(self, task_id: str) -> None:
        """A submit that hands out `task_id` starts a new task under it (a fixed seed on a
        virtual clock repeats ids from run to run): an old cancel does not apply to it."""
        self._run("DELETE FROM canceled WHERE task_id = ?", task_id, False)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _unusable(self, exc: Exception) -> ConfigurationError:
        return ConfigurationError(
            f"The fake provider cannot use its cancel file {self.path}: {exc}.",
            hint="Set [fake] cancel_file (VIDEOPROVIDER_FAKE_CANCEL_FILE) to a file in a "
            "folder you can write to.",
            provider="fake",
        )
