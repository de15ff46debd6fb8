"""The durable task journal: no submitted task is lost across crashes and restarts.

See docs/journal.md for the guarantees and the multi-worker set-up.
"""

from .entry import SPENDING_PHASES, JournalEntry, Phase
from .store import Journal, SQLAlchemyJournal, SQLiteJournal, open_journal, worker_id

__all__ = [
    "SPENDING_PHASES",
    "Journal",
    "JournalEntry",
    "Phase",
    "SQLAlchemyJournal",
    "SQLiteJournal",
    "open_journal",
    "worker_id",
]
