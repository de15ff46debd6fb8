"""A shared journal in any database SQLAlchemy reaches, e.g. PostgreSQL for many hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ..clock import Clock
from ..errors import ConfigurationError
from ..redact import redact_userinfo
from .sql import TABLE, Journal, Statement

__all__ = ["SQLAlchemyJournal", "masked", "schema_lock"]

T = TypeVar("T")
# One PostgreSQL advisory lock for every videoprovider table creation (the journal's, the
# workers', the gateway's): any number, as long as it is the same everywhere.
SCHEMA_LOCK = 0x7669646F70726F76  # "vidoprov"


@contextmanager
def schema_lock(engine: Any) -> Iterator[None]:
    """Create tables while holding this, one process at a time. Two PostgreSQL sessions
    running the same `CREATE TABLE IF NOT EXISTS` together can both find the name free, and
    the second fails on the catalogue's unique index (`pg_type_typname_nsp_index`)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    import sqlalchemy

    lock = sqlalchemy.text("SELECT pg_advisory_lock(:key)")
    unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:key)")
    with engine.connect() as conn:
        conn.execute(lock, {"key": SCHEMA_LOCK})
        try:
            yield
        finally:
            conn.execute(unlock, {"key": SCHEMA_LOCK})
            conn.commit()


class SQLAlchemyJournal(Journal):
    """A shared journal in any database SQLAlchemy reaches, e.g. PostgreSQL for many hosts."""

    # The engine's pool holds several connections; each call takes its own.
    threads = 4

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        """`url` as SQLAlchemy takes it; plain `postgresql://` ones use psycopg 3."""
        self.clock = clock or self.clock
        scheme, _, rest = url.partition("://")
        self.url = f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url
        try:
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(self.url, pool_pre_ping=True)
        except ImportError:
            raise ConfigurationError(
                f"The journal_url {masked(url)!r} needs SQLAlchemy and psycopg.",
                hint='Install them from a checkout of the repository: pip install ".[postgres]"',
            ) from None
        self._sa = sqlalchemy
        try:
            self._init_schema()
        except sqlalchemy.exc.OperationalError as exc:
            self._engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ConfigurationError(
                f"The journal_url {masked(url)!r} cannot be reached: {reason.rstrip('.')}.",
                hint="Check the host, port, database name and credentials in journal_url, and "
                "that the server runs.",
            ) from exc

    @contextmanager
    def _creating(self) -> Iterator[None]:
        with schema_lock(self._engine):
            yield

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        with self._engine.begin() as conn:
            return int(conn.execute(self._sa.text(sql), dict(params or {})).rowcount)

    def _query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(self._sa.text(sql), dict(params or {}))]

    def _atomically(self, steps: Callable[[Statement], T]) -> T:
        with self._engine.begin() as conn:

            def run(sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
                result = conn.execute(self._sa.text(sql), dict(params))
                return [tuple(row) for row in result] if result.returns_rows else []

            return steps(run)

    def _columns(self) -> set[str]:
        return {c["name"] for c in self._sa.inspect(self._engine).get_columns(TABLE)}

    def close(self) -> None:
        self._engine.dispose()


def masked(url: str) -> str:
    """`url` with its user and password replaced by ***, for messages (core/redact.py)."""
    return redact_userinfo(url)
