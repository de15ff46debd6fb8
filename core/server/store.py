"""The gateway's own tables: its videos (each a journaled task seen through OpenAI's eyes),
the callers' keys, their idempotency keys and their request rates.

They live in their own database (database.py: an SQLite file beside the task journal, or
PostgreSQL), so the journal stays the library's and the gateway adds nothing to it. Every
write is one statement, atomic on its own, but adding a video, which first looks for its
idempotency key and checks the caller's spending, runs in one serialised transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..clock import Clock
from .database import LOCKS, open_database

__all__ = ["CallbackRow", "KeyRow", "Store", "VideoRow", "now_ms"]


def now_ms(clock: Clock) -> int:
    """The clock's wall time as the store keeps times: milliseconds since the epoch (wall
    time, since processes on several machines share the rows)."""
    return int(clock.now().timestamp() * 1000)


SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gateway_videos (
        id TEXT PRIMARY KEY, caller TEXT NOT NULL, provider TEXT NOT NULL, task_id TEXT,
        model TEXT NOT NULL, seconds TEXT NOT NULL, size TEXT NOT NULL, prompt TEXT,
        status TEXT NOT NULL, progress INTEGER NOT NULL, created_ms BIGINT NOT NULL,
        completed_ms BIGINT, expires_ms BIGINT, error_code TEXT, error_message TEXT,
        path TEXT, cancelled INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT,
        cost_currency TEXT, cost_estimate TEXT, cost_actual TEXT, request_json TEXT NOT NULL,
        revision INTEGER NOT NULL DEFAULT 0, callback_url TEXT,
        lease_owner TEXT, lease_expires_ms BIGINT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS gateway_videos_idem ON gateway_videos "
    "(caller, idempotency_key) WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS gateway_videos_caller ON gateway_videos (caller, created_ms)",
    """CREATE TABLE IF NOT EXISTS gateway_keys (
        name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, providers TEXT NOT NULL,
        models TEXT NOT NULL, rate_per_minute INTEGER, max_spend TEXT,
        spend_period TEXT NOT NULL, created_ms BIGINT NOT NULL, revoked_ms BIGINT)""",
    """CREATE TABLE IF NOT EXISTS gateway_callbacks (
        id TEXT PRIMARY KEY, video_id TEXT NOT NULL, url TEXT NOT NULL, payload TEXT NOT NULL,
        attempts INTEGER NOT NULL, delivered_ms BIGINT, last_error TEXT,
        given_up INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires_ms BIGINT)""",
    # A token bucket per caller with a request rate, shared by every process on the store.
    """CREATE TABLE IF NOT EXISTS gateway_rates (
        caller TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at_ms BIGINT NOT NULL)""",
]
# Statuses before a task is known to have ended; "submitting" is a row whose submit has not
# answered yet (after a crash: outcome unknown).
OPEN = ("submitting", "queued", "in_progress")
# The leased tables, and which of their rows still have work to do: only those can be
# leased, so a process that read a row while it was open, and comes to lease it after its
# holder finished it and let go, does not do the work a second time.
LEASED = {
    "gateway_videos": "status IN ({})".format(", ".join(f"'{state}'" for state in OPEN)),
    "gateway_callbacks": "delivered_ms IS NULL AND given_up = 0",
}


@dataclass
class VideoRow:
    id: str
    caller: str
    provider: str
    task_id: str | None
    model: str
    seconds: str
    size: str
    prompt: str | None
    status: str
    progress: int
    created_ms: int
    completed_ms: int | None = None
    expires_ms: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    path: str | None = None
    cancelled: int = 0
    idempotency_key: str | None = None
    cost_currency: str | None = None
    cost_estimate: str | None = None
    cost_actual: str | None = None
    request_json: str = "{}"
    # Bumped by every change: the id of the video's server-sent events (events.py).
    revision: int = 0
    callback_url: str | None = None
    # Which gateway process follows the video, until when (store.acquire): several
    # processes on one store each follow their share, and take over a dead one's.
    lease_owner: str | None = None
    lease_expires_ms: int | None = None


@dataclass
class KeyRow:
    name: str
    hash: str
    providers: tuple[str, ...]
    models: tuple[str, ...]
    rate_per_minute: int | None
    max_spend: str | None
    spend_period: str
    created_ms: int
    revoked_ms: int | None = None


@dataclass
class CallbackRow:
    id: str
    video_id: str
    url: str
    payload: str
    attempts: int
    delivered_ms: int | None = None
    last_error: str | None = None


_VIDEO_COLUMNS = [f.name for f in fields(VideoRow)]
# A caller's bucket refilled to :now at :rate a minute, capped at :rate (CASE, not MIN or
# LEAST: SQLite and PostgreSQL name those differently).
_ELAPSED_MS = "(CASE WHEN :now > gateway_rates.at_ms THEN :now - gateway_rates.at_ms ELSE 0 END)"
_FILLING = f"(gateway_rates.tokens + {_ELAPSED_MS} * :rate / 60000.0)"
_REFILLED = f"(CASE WHEN {_FILLING} > :rate THEN :rate ELSE {_FILLING} END)"


class Store:
    """The gateway's tables in its database, created on first use."""

    def __init__(self, where: str | Path) -> None:
        self._db = open_database(where)
        self.url = self._db.url
        self._db.create([*SCHEMA, *LOCKS])

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        return self._db.run(sql, params)

    def close(self) -> None:
        self._db.close()

    # -- videos ---------------------------------------------------------------------------

    def add(self, row: VideoRow, check: Callable[[], None] | None = None) -> VideoRow:
        """Insert `row`, after `check` (the caller's spending cap) passes; when its (caller,
        idempotency key) exists, return that row instead, unchecked.

        One exclusive transaction: processes sharing the store take turns, so two submits
        racing under one caller's cap cannot both slip under it, nor under one key."""
        names = ", ".join(_VIDEO_COLUMNS)
        marks = ", ".join(f":{c}" for c in _VIDEO_COLUMNS)

        def steps() -> VideoRow:
            if row.idempotency_key is not None:
                found = self._one(
                    "caller = :caller AND idempotency_key = :key",
                    {"caller": row.caller, "key": row.idempotency_key},
                )
                if found is not None:
                    return found
            if check is not None:
                check()
            self._run(f"INSERT INTO gateway_videos ({names}) VALUES ({marks})", vars(row))
            return row

        return self._db.exclusive(steps)

    def update(self, video_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        self._run(f"UPDATE gateway_videos SET {sets} WHERE id = :id", {**values, "id": video_id})

    def delete(self, video_id: str) -> None:
        self._run("DELETE FROM gateway_videos WHERE id = :id", {"id": video_id})

    def get(self, video_id: str, caller: str | None = None) -> VideoRow | None:
        if caller is None:
            return self._one("id = :id", {"id": video_id})
        return self._one("id = :id AND caller = :caller", {"id": video_id, "caller": caller})

    def _one(self, where: str, params: Mapping[str, Any]) -> VideoRow | None:
        rows = self._select(where, params)
        return rows[0] if rows else None

    def _select(self, where: str, params: Mapping[str, Any], tail: str = "") -> list[VideoRow]:
        sql = f"SELECT {', '.join(_VIDEO_COLUMNS)} FROM gateway_videos WHERE {where} {tail}"
        return [VideoRow(*r) for r in self._run(sql, params)]

    def page(self, caller: str, after: str | None, limit: int, order: str) -> list[VideoRow]:
        """Up to `limit` + 1 of the caller's videos after the one named `after`."""
        direction = "DESC" if order == "desc" else "ASC"
        where, params = "caller = :caller", dict[str, Any](caller=caller)
        if after is not None:
            anchor = self.get(after, caller)
            if anchor is not None:
                op = "<" if order == "desc" else ">"
                where += f" AND (created_ms, id) {op} (:at, :after)"
                params.update(at=anchor.created_ms, after=anchor.id)
        tail = f"ORDER BY created_ms {direction}, id {direction} LIMIT {int(limit) + 1}"
        return self._select(where, params, tail)

    def open_rows(self) -> list[VideoRow]:
        states = {f"s{i}": state for i, state in enumerate(OPEN)}
        marks = ", ".join(f":{name}" for name in states)
        return self._select(f"status IN ({marks})", states, "ORDER BY created_ms")

    def expired(self, now_ms: int) -> list[VideoRow]:
        return self._select("path IS NOT NULL AND expires_ms <= :now", {"now": now_ms})

    def spent(self, caller: str, since_ms: int, currency: str) -> Decimal:
        """The estimated (actual, once known) cost of the caller's videos since `since_ms`."""
        rows = self._run(
            "SELECT cost_estimate, cost_actual FROM gateway_videos WHERE caller = :caller "
            "AND created_ms >= :since AND cost_currency = :currency AND NOT "
            "(status = 'failed' AND task_id IS NULL)",
            {"caller": caller, "since": since_ms, "currency": currency},
        )
        return sum((Decimal(actual or estimate or "0") for estimate, actual in rows), Decimal(0))

    def counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, how many) over every caller."""
        rows = self._run(
            "SELECT provider, status, COUNT(*) FROM gateway_videos GROUP BY provider, status"
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    def currencies(self, caller: str) -> list[str]:
        rows = self._run(
            "SELECT DISTINCT cost_currency FROM gateway_videos WHERE caller = :caller "
            "AND cost_currency IS NOT NULL ORDER BY cost_currency",
            {"caller": caller},
        )
        return [r[0] for r in rows]

    # -- leases: one process at a time follows a video or delivers a callback -------------

    def acquire(self, table: str, row_id: str, owner: str, now_ms: int, ttl_ms: int) -> bool:
        """Take (or renew) the lease on a row that still has work to do; False while
        another process holds it, or once the row's work is done."""
        taken = self._run(
            f"UPDATE {table} SET lease_owner = :owner, lease_expires_ms = :expires WHERE "
            f"id = :id AND {LEASED[table]} AND (lease_owner IS NULL OR lease_owner = :owner "
            "OR lease_expires_ms IS NULL OR lease_expires_ms < :now) RETURNING id",
            {"owner": owner, "expires": now_ms + ttl_ms, "now": now_ms, "id": row_id},
        )
        return bool(taken)

    def release(self, table: str, row_id: str, owner: str) -> None:
        assert table in LEASED
        self._run(
            f"UPDATE {table} SET lease_owner = NULL, lease_expires_ms = NULL "
            "WHERE id = :id AND lease_owner = :owner",
            {"id": row_id, "owner": owner},
        )

    # -- callbacks ------------------------------------------------------------------------

    def add_callback(self, row: CallbackRow) -> None:
        self._run(
            "INSERT INTO gateway_callbacks (id, video_id, url, payload, attempts) "
            "VALUES (:id, :video_id, :url, :payload, :attempts)",
            vars(row),
        )

    def pending_callbacks(self) -> list[CallbackRow]:
        rows = self._run(
            "SELECT id, video_id, url, payload, attempts, delivered_ms, last_error "
            "FROM gateway_callbacks WHERE delivered_ms IS NULL AND given_up = 0"
        )
        return [CallbackRow(*r) for r in rows]

    def callbacks(self, video_id: str) -> list[CallbackRow]:
        rows = self._run(
            "SELECT id, video_id, url, payload, attempts, delivered_ms, last_error "
            "FROM gateway_callbacks WHERE video_id = :video",
            {"video": video_id},
        )
        return [CallbackRow(*r) for r in rows]

    def callback_counts(self) -> dict[str, int]:
        """How many callbacks are delivered, pending and given up."""
        rows = self._run(
            "SELECT CASE WHEN delivered_ms IS NOT NULL THEN 'delivered' WHEN given_up = 1 "
            "THEN 'given_up' ELSE 'pending' END AS state, COUNT(*) FROM gateway_callbacks "
            "GROUP BY state"
        )
        return {r[0]: int(r[1]) for r in rows}

    def callback_tried(
        self,
        callback_id: str,
        attempts: int,
        error: str | None,
        *,
        delivered_ms: int | None = None,
        final: bool = False,
    ) -> None:
        self._run(
            "UPDATE gateway_callbacks SET attempts = :attempts, last_error = :error, "
            "delivered_ms = :delivered, given_up = :final WHERE id = :id",
            {
                "attempts": attempts,
                "error": error,
                "delivered": delivered_ms,
                "final": int(final),
                "id": callback_id,
            },
        )

    # -- request rates ----------------------------------------------------------------------

    def take_token(self, caller: str, rate: int, now_ms: int) -> float | None:
        """Take one request from the caller's bucket (`rate` a minute, up to `rate` at once,
        refilled by the wall time `now_ms`); None when taken, else what the bucket holds (<1).

        One upsert, atomic on its own in SQLite and PostgreSQL alike (a row lock, no
        transaction around it), so replicas on the store together allow `rate`. A refusal
        leaves the row as it was: the refill is linear, so it comes to the same later.
        Time that goes back (another machine's clock) refills nothing."""
        params = {"caller": caller, "rate": rate, "now": now_ms}
        taken = self._run(
            "INSERT INTO gateway_rates (caller, tokens, at_ms) VALUES (:caller, :rate - 1, :now) "
            f"ON CONFLICT (caller) DO UPDATE SET tokens = {_REFILLED} - 1, at_ms = CASE WHEN "
            ":now > gateway_rates.at_ms THEN :now ELSE gateway_rates.at_ms END "
            f"WHERE {_REFILLED} >= 1 RETURNING tokens",
            params,
        )
        if taken:
            return None
        held = self._run(f"SELECT {_REFILLED} FROM gateway_rates WHERE caller = :caller", params)
        return float(held[0][0]) if held else 0.0

    # -- caller keys ----------------------------------------------------------------------

    def add_key(self, row: KeyRow) -> None:
        values = {**vars(row), "providers": json.dumps(row.providers)}
        values["models"] = json.dumps(row.models)
        names = ", ".join(values)
        self._run(
            f"INSERT INTO gateway_keys ({names}) VALUES ({', '.join(':' + n for n in values)})",
            values,
        )

    def key_rows(self) -> list[KeyRow]:
        rows = self._run(
            "SELECT name, hash, providers, models, rate_per_minute, max_spend, spend_period, "
            "created_ms, revoked_ms FROM gateway_keys ORDER BY created_ms, name"
        )
        return [
            KeyRow(r[0], r[1], tuple(json.loads(r[2])), tuple(json.loads(r[3])), *r[4:])
            for r in rows
        ]

    def revoke_key(self, name: str, now_ms: int) -> bool:
        found = self._run(
            "UPDATE gateway_keys SET revoked_ms = :now WHERE name = :name AND revoked_ms IS NULL "
            "RETURNING name",
            {"now": now_ms, "name": name},
        )
        return bool(found)
