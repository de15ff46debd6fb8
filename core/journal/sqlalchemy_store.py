"""A shared journal in any database SQLAlchemy reaches, e.g. PostgreSQL for many hosts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import ConfigurationError
from .sql import TABLE, Journal, Statement

__all__ = ["SQLAlchemyJournal"]

T = TypeVar("T")


class SQLAlchemyJournal(Journal):
    """A shared journal in any database SQLAlchemy reaches, e.g. PostgreSQL for many hosts."""

    def __init__(self, url: str) -> None:
        try:
            import sqlalchemy
        except ImportError:
            raise ConfigurationError(
                f"The journal URL {url.split('@')[-1]!r} needs SQLAlchemy.",
                hint='Install it from a checkout of the repository: pip install ".[postgres]"',
            ) from None
        self._sa = sqlalchemy
        self.url = url
        self._engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
        self._init_schema()

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
