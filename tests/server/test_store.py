"""The gateway's store: leases, idempotency keys, spending per caller."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from videoprovider.server.store import Store, VideoRow


def row(video_id: str, **fields: object) -> VideoRow:
    values: dict[str, object] = {
        "id": video_id,
        "caller": "a",
        "provider": "fake",
        "task_id": "t",
        "model": "fake/x",
        "seconds": "4",
        "size": "",
        "prompt": "p",
        "status": "queued",
        "progress": 0,
        "created_ms": 1000,
    }
    return VideoRow(**{**values, **fields})  # type: ignore[arg-type]


def test_one_process_at_a_time_holds_a_lease(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.sqlite3")
    store.add(row("v1"))
    assert store.acquire("gateway_videos", "v1", "p1", now_ms=0, ttl_ms=5000)
    assert not store.acquire("gateway_videos", "v1", "p2", now_ms=4000, ttl_ms=5000)
    assert store.acquire("gateway_videos", "v1", "p1", now_ms=4000, ttl_ms=5000)  # renewed
    assert not store.acquire("gateway_videos", "v1", "p2", now_ms=8000, ttl_ms=5000)
    assert store.acquire("gateway_videos", "v1", "p2", now_ms=9001, ttl_ms=5000)  # ran out
    store.release("gateway_videos", "v1", "p1")  # not p1's any more: nothing changes
    assert not store.acquire("gateway_videos", "v1", "p1", now_ms=9002, ttl_ms=5000)
    store.release("gateway_videos", "v1", "p2")
    assert store.acquire("gateway_videos", "v1", "p1", now_ms=9003, ttl_ms=5000)


def test_an_idempotency_key_returns_the_first_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.sqlite3")
    first = store.add(row("v1", idempotency_key="k"))
    again = store.add(row("v2", idempotency_key="k"))
    other_caller = store.add(row("v3", idempotency_key="k", caller="b"))
    assert (first.id, again.id, other_caller.id) == ("v1", "v1", "v3")


def test_spending_counts_estimates_then_actual_costs(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.sqlite3")
    store.add(row("v1", cost_currency="USD", cost_estimate="0.5"))
    store.add(row("v2", cost_currency="USD", cost_estimate="0.5", cost_actual="0.3"))
    store.add(row("v3", cost_currency="USD", cost_estimate="9", status="failed", task_id=None))
    store.add(row("v4", cost_currency="USD", cost_estimate="9", created_ms=10))
    assert store.spent("a", since_ms=500, currency="USD") == Decimal("0.8")
    assert store.spent("b", since_ms=0, currency="USD") == 0
