"""Opening a journal from its URL; the names the journal's modules define, where they
have always been importable from.

The base class and its SQL live in sql.py, the back ends in sqlite_store.py and
sqlalchemy_store.py, lease holders in leases.py.
"""

from __future__ import annotations

import os

from ..clock import Clock
from ..errors import ConfigurationError
from .leases import owner_is_dead, worker_id
from .sql import Journal, SpendCheck, Statement
from .sqlalchemy_store import SQLAlchemyJournal, masked
from .sqlite_store import SQLiteJournal, default_path

__all__ = [
    "Journal",
    "SQLAlchemyJournal",
    "SQLiteJournal",
    "SpendCheck",
    "Statement",
    "default_path",
    "masked",
    "open_journal",
    "owner_is_dead",
    "worker_id",
]


def open_journal(
    url: str | os.PathLike[str] | None = None, *, clock: Clock | None = None
) -> Journal:
    """A journal from a URL (`sqlite:///path`, `postgresql://...`), a file path, or the
    default SQLite file in the user data dir; `clock` stamps its entries.

    Raises ConfigurationError naming `journal_url` for a URL of another database, or a path
    that cannot hold the journal."""
    if url is None or str(url) == "":
        return SQLiteJournal(default_path(), clock=clock)
    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteJournal(text.removeprefix("sqlite:///"), clock=clock)
    if "://" not in text:
        return SQLiteJournal(text, clock=clock)
    scheme = text.partition("://")[0]
    if scheme != "postgres" and scheme.partition("+")[0] != "postgresql":
        # The SQL is written for SQLite and PostgreSQL (ON CONFLICT, ALTER TABLE ADD COLUMN).
        raise ConfigurationError(
            f"The journal_url {masked(text)!r} names a {scheme!r} database; the journal "
            "supports SQLite and PostgreSQL.",
            hint="Set journal_url to a file path, sqlite:///PATH or a postgresql:// URL "
            "(postgresql://HOST/DATABASE, the user and password before the host).",
        )
    return SQLAlchemyJournal(text, clock=clock)
