"""The journal's SQL, written once: the schema, every statement, and the `Journal` base
class that runs them through a back end (sqlite_store.py, sqlalchemy_store.py).

Every statement is written once with `:named` parameters, which both `sqlite3` and
SQLAlchemy's `text()` accept, so the two back ends cannot drift apart. Each write is one
statement, atomic on its own; a lease is taken by a conditional UPDATE, which serialises
workers on any SQL database without explicit locks. The one step that must read before it
writes, an intent under a spending cap, runs in a transaction that first updates a row of
the locks table: that row lock (PostgreSQL) or write lock (SQLite) serialises it.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from ..clock import Clock, SystemClock
from ..models import LOCAL_FILES_CONTEXT as LOCAL_FILES
from ..models import Estimate, Task, TaskState, TaskStatus, VideoRequest
from .entry import SPENDING_PHASES, JournalEntry, Phase
from .leases import owner_is_dead

__all__ = ["Journal", "SpendCheck", "Statement"]

TABLE = "videoprovider_journal"
COLUMNS = (
    "id",
    "provider",
    "task_id",
    "phase",
    "state",
    "progress",
    "request_json",
    "target_path",
    "path",
    "error",
    "video_url_expires_ms",
    "created_ms",
    "updated_ms",
    "lease_owner",
    "lease_expires_ms",
    "cost_currency",
    "cost_estimate",
    "cost_actual",
    "cost_basis",
)
# Columns added after the first release, with their types: a journal created before them
# gains them when it is opened (ALTER TABLE works alike on SQLite and PostgreSQL). Amounts
# are decimal strings, exact on every database.
ADDED_COLUMNS = {
    "cost_currency": "VARCHAR(3)",
    "cost_estimate": "VARCHAR(40)",
    "cost_actual": "VARCHAR(40)",
    "cost_basis": "TEXT",
}
LOCKS = "videoprovider_locks"
SPEND_LOCK = "spend"
SCHEMA = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id VARCHAR(32) PRIMARY KEY, provider VARCHAR(100) NOT NULL, task_id VARCHAR(200),
        phase VARCHAR(20) NOT NULL, state VARCHAR(20), progress INTEGER,
        request_json TEXT NOT NULL, target_path TEXT, path TEXT, error TEXT,
        video_url_expires_ms BIGINT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
        lease_owner VARCHAR(200), lease_expires_ms BIGINT)""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_task ON {TABLE} (provider, task_id)",
    # With the primary key, lets `get(key)` (journal id or task id) look both up by index.
    f"CREATE INDEX IF NOT EXISTS {TABLE}_task_id ON {TABLE} (task_id)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_phase ON {TABLE} (phase)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_created ON {TABLE} (created_ms)",
    f"CREATE TABLE IF NOT EXISTS {LOCKS} (name VARCHAR(50) PRIMARY KEY, taken_ms BIGINT)",
    f"INSERT INTO {LOCKS} (name, taken_ms) VALUES ('{SPEND_LOCK}', 0) "
    "ON CONFLICT (name) DO NOTHING",
]
_SPENDING_PHASES = tuple(sorted(f"'{phase.value}'" for phase in SPENDING_PHASES))
T = TypeVar("T")
Statement = Callable[[str, Mapping[str, Any]], list[Sequence[Any]]]
SpendCheck = Callable[[Callable[[datetime, str], Decimal]], None]
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"
_OPEN_PHASES = ("'submitted'", "'finished'")


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else _at(ms)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class Journal(ABC):
    """Durable record of every generation: the store behind `resume()` and `tasks`."""

    url: str
    # Where entry timestamps come from: the client's clock, so spending periods and the
    # entries they count agree (a virtual clock in tests).
    clock: Clock = SystemClock()
    # Worker threads the async client runs this journal's calls on at once.
    threads: int = 1

    def _now(self) -> int:
        return _ms(self.clock.now())

    @abstractmethod
    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Execute one statement; return the number of rows it changed."""

    @abstractmethod
    def _query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
        """Execute one SELECT; return its rows."""

    @abstractmethod
    def _atomically(self, steps: Callable[[Statement], T]) -> T:
        """Run `steps` (given a function that executes one statement and returns its rows)
        in one transaction, committed when it returns and rolled back when it raises."""

    @abstractmethod
    def _columns(self) -> set[str]:
        """The names of the journal table's columns."""

    def close(self) -> None:  # noqa: B027 - optional for back ends without resources
        """Release the connection."""

    @contextmanager
    def _creating(self) -> Iterator[None]:
        """Hold while creating tables, so processes opening a new database together do
        not collide (PostgreSQL's `IF NOT EXISTS` does not make that safe; SQLite's does)."""
        yield

    def _init_schema(self) -> None:
        with self._creating():
            for statement in SCHEMA[:1]:
                self._run(statement)
            self._migrate()
            for statement in SCHEMA[1:]:
                self._run(statement)

    def _migrate(self) -> None:
        missing = [name for name in ADDED_COLUMNS if name not in self._columns()]
        for name in missing:
            try:
                self._run(f"ALTER TABLE {TABLE} ADD COLUMN {name} {ADDED_COLUMNS[name]}")
            except Exception:
                # Another process opening the same old journal may have added it first.
                if name not in self._columns():
                    raise

    # -- writes, in the order a generation makes them -------------------------------------

    def intent(
        self,
        provider: str,
        request: VideoRequest,
        target_path: str | None,
        owner: str,
        *,
        estimate: Estimate | None = None,
        within: SpendCheck | None = None,
    ) -> str:
        """Record that a submit is about to leave, with its `estimate`; return the entry id.

        `within`, when given, is called first with `spent(since, currency)`, the spending
        recorded since then in that currency; it raises to refuse the submit. The check and
        the write are one transaction that holds the journal's spend lock, so processes
        racing under one cap cannot both slip under it.
        """
        entry_id = uuid.uuid4().hex
        now = self._now()
        params = {
            "id": entry_id,
            "provider": provider,
            "request": request.model_dump_json(),
            "target": target_path,
            "now": now,
            "owner": owner,
            "currency": estimate.currency if estimate else None,
            "estimate": str(estimate.amount) if estimate and estimate.known else None,
            "basis": estimate.basis[:2000] if estimate else None,
        }
        insert = (
            f"INSERT INTO {TABLE} (id, provider, phase, request_json, target_path, created_ms, "
            "updated_ms, lease_owner, lease_expires_ms, cost_currency, cost_estimate, "
            "cost_basis) VALUES (:id, :provider, 'intent', :request, :target, :now, :now, "
            ":owner, NULL, :currency, :estimate, :basis)"
        )
        if within is None:
            self._run(insert, params)
            return entry_id

        def steps(run: Statement) -> None:
            run(f"UPDATE {LOCKS} SET taken_ms = :now WHERE name = '{SPEND_LOCK}'", {"now": now})
            assert within is not None
            within(lambda since, currency: self._spent(run, since, currency))
            run(insert, params)

        self._atomically(steps)
        return entry_id

    def spent(self, since: datetime, currency: str) -> Decimal:
        """What the entries created since `since` cost in `currency`: each one's actual
        cost where known, else its estimate."""
        return self._spent(lambda sql, p: self._query(sql, p), since, currency)

    def _spent(self, run: Statement, since: datetime, currency: str) -> Decimal:
        rows = run(
            f"SELECT cost_estimate, cost_actual FROM {TABLE} WHERE created_ms >= :since AND "
            f"cost_currency = :currency AND phase IN ({', '.join(_SPENDING_PHASES)})",
            {"since": _ms(since), "currency": currency},
        )
        return sum((Decimal(actual or est or 0) for est, actual in rows), Decimal(0))

    def submitted(self, entry_id: str, task: Task) -> None:
        self._run(
            f"UPDATE {TABLE} SET task_id = :task_id, phase = 'submitted', "
            "lease_owner = NULL, updated_ms = :now WHERE id = :id",
            {"task_id": task.task_id, "now": self._now(), "id": entry_id},
        )

    def submit_failed(self, entry_id: str, phase: Phase, error: str) -> None:
        self._run(
            f"UPDATE {TABLE} SET phase = :phase, error = :error, lease_owner = NULL, "
            "updated_ms = :now WHERE id = :id",
            {"phase": phase.value, "error": error[:2000], "now": self._now(), "id": entry_id},
        )

    def status(self, status: TaskStatus) -> None:
        phase = "finished" if status.is_terminal else "submitted"
        error = ": ".join(x for x in (status.error_code, status.error_message) if x) or None
        self._run(
            f"UPDATE {TABLE} SET state = :state, progress = :progress, phase = :phase, "
            "error = :error, video_url_expires_ms = :expires, updated_ms = :now, "
            "cost_actual = COALESCE(:actual, cost_actual), "
            "cost_currency = COALESCE(:actual_currency, cost_currency), "
            "cost_basis = COALESCE(:actual_basis, cost_basis) "
            "WHERE provider = :provider AND task_id = :task_id AND phase IN "
            f"({', '.join(_OPEN_PHASES)}) "
            # States never go back: a poll that was under way when a push said the task
            # had ended must not reopen it.
            "AND (phase = 'submitted' OR :terminal = 1)",
            {
                "terminal": int(status.is_terminal),
                "state": status.state.value,
                "progress": status.progress,
                "phase": phase,
                "error": error,
                "now": self._now(),
                "provider": status.provider,
                "task_id": status.task_id,
                "expires": _ms(status.video_url_expires_at)
                if status.video_url_expires_at
                else None,
                **_actual(status),
            },
        )

    def collected(self, provider: str, task_id: str, path: str) -> None:
        self._run(
            f"UPDATE {TABLE} SET phase = 'collected', path = :path, updated_ms = :now "
            "WHERE provider = :provider AND task_id = :task_id",
            {"path": path, "now": self._now(), "provider": provider, "task_id": task_id},
        )

    # -- leases ---------------------------------------------------------------------------

    def acquire(self, entry_id: str, owner: str, ttl: float) -> bool:
        """Take (or renew) the lease on an entry; False while another live worker holds it."""
        now = self._now()
        params = {"owner": owner, "expires": now + int(ttl * 1000), "now": now, "id": entry_id}
        taken = self._run(
            f"UPDATE {TABLE} SET lease_owner = :owner, lease_expires_ms = :expires WHERE "
            "id = :id AND (lease_owner IS NULL OR lease_owner = :owner OR "
            "lease_expires_ms IS NULL OR lease_expires_ms < :now)",
            params,
        )
        if taken:
            return True
        holder = self._query(f"SELECT lease_owner FROM {TABLE} WHERE id = :id", {"id": entry_id})
        if holder and holder[0][0] and owner_is_dead(holder[0][0]):
            return (
                self._run(
                    f"UPDATE {TABLE} SET lease_owner = :owner, lease_expires_ms = "
                    ":expires WHERE id = :id AND lease_owner = :dead",
                    {**params, "dead": holder[0][0]},
                )
                == 1
            )
        return False

    def release(self, entry_id: str, owner: str) -> None:
        self._run(
            f"UPDATE {TABLE} SET lease_owner = NULL, lease_expires_ms = NULL "
            "WHERE id = :id AND lease_owner = :owner",
            {"id": entry_id, "owner": owner},
        )

    # -- reads ----------------------------------------------------------------------------

    def entries(
        self, phase: Phase | None = None, state: TaskState | None = None
    ) -> list[JournalEntry]:
        self.settle_intents()
        where, params = [], {}
        if phase is not None:
            where.append("phase = :phase")
            params["phase"] = phase.value
        if state is not None:
            where.append("state = :state")
            params["state"] = state.value
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_ms"
        return [self._entry(row) for row in self._query(sql, params)]

    def durations(self, provider: str, limit: int = 256) -> list[tuple[str | None, float]]:
        """(model, seconds) for the provider's latest completed tasks, from the intent to
        the write that saw them finished (or collected them, a little later): what the
        poll policy learns from, so a new process starts from experience, not a prior."""
        rows = self._query(
            f"SELECT request_json, created_ms, updated_ms FROM {TABLE} WHERE provider = "
            ":provider AND state = :state AND phase IN ('finished', 'collected') "
            "ORDER BY updated_ms DESC LIMIT :limit",
            {"provider": provider, "state": TaskState.COMPLETED.value, "limit": limit},
        )
        found = []
        for request_json, created, updated in rows:
            model = json.loads(request_json).get("model")
            found.append((model if isinstance(model, str) else None, (updated - created) / 1000))
        return found

    def unfinished(self) -> list[JournalEntry]:
        return [e for e in self.entries() if e.unfinished]

    def get(self, key: str) -> JournalEntry | None:
        """The entry with this journal id or provider task id."""
        rows = self._query(_SELECT + " WHERE id = :key OR task_id = :key", {"key": key})
        return self._entry(rows[0]) if rows else None

    def task(self, provider: str, task_id: str) -> JournalEntry | None:
        """The entry of `provider`'s task `task_id` (by index: one per webhook notice)."""
        rows = self._query(
            _SELECT + " WHERE provider = :provider AND task_id = :task_id",
            {"provider": provider, "task_id": task_id},
        )
        return self._entry(rows[0]) if rows else None

    def find(self, key: str) -> JournalEntry | None:
        """`get(key)`, or the one entry whose journal id starts with `key` (what `tasks list`
        shows); None when there is none, or more than one."""
        entry = self.get(key)
        if entry is not None or not key:
            return entry
        matches = [e for e in self.entries() if e.id.startswith(key)]
        return matches[0] if len(matches) == 1 else None

    def settle_intents(self) -> int:
        """Mark intents whose process died before recording the reply as outcome unknown."""
        settled = 0
        rows = self._query(f"SELECT id, lease_owner FROM {TABLE} WHERE phase = 'intent'")
        for entry_id, owner in rows:
            if owner is None or owner_is_dead(owner):
                settled += self._run(
                    f"UPDATE {TABLE} SET phase = 'outcome_unknown', error = :error, "
                    "updated_ms = :now WHERE id = :id AND phase = 'intent'",
                    {
                        "id": entry_id,
                        "now": self._now(),
                        "error": "The process stopped after sending the submit and before "
                        "recording the reply; the task may exist at the provider.",
                    },
                )
        return settled

    def prune(self, older_than: float) -> int:
        """Delete finished, collected and rejected entries not touched for `older_than` s."""
        return self._run(
            f"DELETE FROM {TABLE} WHERE updated_ms < :before AND phase IN "
            "('collected', 'finished', 'rejected')",
            {"before": self._now() - int(older_than * 1000)},
        )

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        r = dict(zip(COLUMNS, row, strict=True))
        return JournalEntry(
            id=r["id"],
            provider=r["provider"],
            task_id=r["task_id"],
            phase=Phase(r["phase"]),
            state=TaskState(r["state"]) if r["state"] else None,
            progress=r["progress"],
            request=VideoRequest.model_validate(json.loads(r["request_json"]), context=LOCAL_FILES),
            target_path=r["target_path"],
            path=r["path"],
            error=r["error"],
            video_url_expires_at=_dt(r["video_url_expires_ms"]),
            created_at=_at(r["created_ms"]),
            updated_at=_at(r["updated_ms"]),
            lease_owner=r["lease_owner"],
            lease_expires_at=_dt(r["lease_expires_ms"]),
            currency=r["cost_currency"],
            estimate=Decimal(r["cost_estimate"]) if r["cost_estimate"] else None,
            actual_cost=Decimal(r["cost_actual"]) if r["cost_actual"] else None,
            cost_basis=r["cost_basis"],
        )


def _actual(status: TaskStatus) -> dict[str, Any]:
    cost = status.cost
    known = cost is not None and cost.actual and cost.known
    return {
        "actual": str(cost.amount) if known and cost else None,
        "actual_currency": cost.currency if known and cost else None,
        "actual_basis": cost.basis[:2000] if known and cost else None,
    }
