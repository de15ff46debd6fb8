"""Where the gateway's store lives: an SQLite file (one machine), or any database SQLAlchemy
reaches, e.g. PostgreSQL (gateways on several machines).

Every statement of store.py is written once with `:named` parameters, which both `sqlite3`
and SQLAlchemy's `text()` take, as the journal does. `exclusive` runs steps in one write
transaction that processes take in turn: SQLite's BEGIN IMMEDIATE, a row lock elsewhere.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ..journal.sqlalchemy_store import schema_lock

__all__ = ["Database", "open_database"]

T = TypeVar("T")
LOCKS = [
    "CREATE TABLE IF NOT EXISTS gateway_locks (name VARCHAR(50) PRIMARY KEY)",
    "INSERT INTO gateway_locks (name) VALUES ('add') ON CONFLICT (name) DO NOTHING",
]


class Database:
    """Runs statements; `exclusive(steps)` runs `steps()` in one serialised transaction."""

    url: str

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def exclusive(self, steps: Callable[[], T]) -> T:
        raise NotImplementedError

    def create(self, statements: Sequence[str]) -> None:
        """Run the schema's statements; processes starting together on a new database take
        turns (SQLite's own lock serialises each statement already)."""
        for statement in statements:
            self.run(statement)

    def close(self) -> None:
        raise NotImplementedError


class SQLiteDatabase(Database):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.url = f"sqlite:///{path}"
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        # Re-entrant: the steps of an exclusive transaction run statements of their own.
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # As the journal does: in WAL mode a commit survives a process crash without an
        # fsync each; only a power cut can lose the last ones.
        self._db.execute("PRAGMA synchronous=NORMAL")
        path.chmod(0o600)

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            return [tuple(r) for r in self._db.execute(sql, dict(params or {})).fetchall()]

    def exclusive(self, steps: Callable[[], T]) -> T:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = steps()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return result

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SQLAlchemyDatabase(Database):
    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise ConfigurationError(
                f"The gateway's database {url.split('@')[-1]!r} needs SQLAlchemy.",
                hint='Install it: pip install "videoprovider[server,postgres]"',
            ) from None
        self._sa = sqlalchemy
        self.url = url
        self._engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
        self._local = threading.local()

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # inside exclusive(): its transaction
            return self._execute(conn, sql, params)
        with self._engine.begin() as fresh:
            return self._execute(fresh, sql, params)

    def _execute(self, conn: Any, sql: str, params: Mapping[str, Any] | None) -> list[Any]:
        result = conn.execute(self._sa.text(sql), dict(params or {}))
        return [tuple(r) for r in result] if result.returns_rows else []

    def exclusive(self, steps: Callable[[], T]) -> T:
        with self._engine.begin() as conn:
            conn.execute(
                self._sa.text("SELECT name FROM gateway_locks WHERE name = 'add' FOR UPDATE")
            )
            self._local.conn = conn
            try:
                return steps()
            finally:
                self._local.conn = None

    def create(self, statements: Sequence[str]) -> None:
        with schema_lock(self._engine):
            super().create(statements)

    def close(self) -> None:
        self._engine.dispose()


def open_database(where: str | Path) -> Database:
    """A path (or sqlite:///path) is an SQLite file; any other URL goes to SQLAlchemy."""
    text = str(where)
    if text.startswith("sqlite:///"):
        return SQLiteDatabase(Path(text.removeprefix("sqlite:///")))
    if "://" not in text:
        return SQLiteDatabase(Path(text).expanduser())
    if text.startswith("postgresql://"):
        text = "postgresql+psycopg://" + text.removeprefix("postgresql://")
    return SQLAlchemyDatabase(text)
