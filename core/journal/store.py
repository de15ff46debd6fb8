"""Opening a journal from its URL; the names the journal's modules define, where they
have always been importable from.

The base class and its SQL live in sql.py, the back ends in sqlite_store.py and
sqlalchemy_store.py, lease holders in leases.py.
"""

from __future__ import annotations

import os

from .leases import owner_is_dead, worker_id
from .sql import Journal, SpendCheck, Statement
from .sqlalchemy_store import SQLAlchemyJournal
from .sqlite_store import SQLiteJournal, default_path

__all__ = [
    "Journal",
    "SQLAlchemyJournal",
    "SQLiteJournal",
    "SpendCheck",
    "Statement",
    "default_path",
    "open_journal",
    "owner_is_dead",
    "worker_id",
]


def open_journal(url: str | os.PathLike[str] | None = None) -> Journal:
    """A journal from a URL (`sqlite:///path`, `postgresql://...`), a file path, or the
    default SQLite file in the user data dir."""
    if url is None or str(url) == "":
        return SQLiteJournal(default_path())
    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteJournal(text.removeprefix("sqlite:///"))
    if "://" in text:
        if text.startswith("postgresql://"):
            text = "postgresql+psycopg://" + text.removeprefix("postgresql://")
        return SQLAlchemyJournal(text)
    return SQLiteJournal(text)
