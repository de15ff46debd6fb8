"""The durable task journal: no submitted task is lost across crashes and restarts.

See docs/journal.md for the guarantees and the multi-worker set-up.
"""

from .entry import JournalEntry, Phase
from .store import Journal, SQLAlchemyJournal, SQLiteJournal, open_journal, worker_id

__all__ = [
    "Journal",
    "JournalEntry",
    "Phase",
    "SQLAlchemyJournal",
    "SQLiteJournal",
    "open_journal",
    "worker_id",
]
