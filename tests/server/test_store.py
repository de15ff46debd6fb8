"""The gateway's store: leases, idempotency keys, spending per caller."""

from __future__ import annotations

from decimal import Decimal

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


def test_one_process_at_a_time_holds_a_lease(database: str) -> None:
    store = Store(database)
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


def test_a_row_whose_work_is_done_cannot_be_leased(database: str) -> None:
    # A sweep read both rows while they were open; their holder then finished and let go.
    from videoprovider.server.store import CallbackRow

    store = Store(database)
    store.add(row("v1"))
    store.add_callback(CallbackRow("msg_1", "v1", "https://x.example", "{}", 0))
    assert store.acquire("gateway_videos", "v1", "p1", now_ms=0, ttl_ms=5000)
    assert store.acquire("gateway_callbacks", "msg_1", "p1", now_ms=0, ttl_ms=5000)
    store.update("v1", status="completed", progress=100)
    store.callback_tried("msg_1", 1, None, delivered_ms=5)
    store.release("gateway_videos", "v1", "p1")
    store.release("gateway_callbacks", "msg_1", "p1")
    assert not store.acquire("gateway_videos", "v1", "p2", now_ms=10, ttl_ms=5000)
    assert not store.acquire("gateway_callbacks", "msg_1", "p2", now_ms=10, ttl_ms=5000)


def test_an_idempotency_key_returns_the_first_row(database: str) -> None:
    store = Store(database)
    first = store.add(row("v1", idempotency_key="k"))
    again = store.add(row("v2", idempotency_key="k"))
    other_caller = store.add(row("v3", idempotency_key="k", caller="b"))
    assert (first.id, again.id, other_caller.id) == ("v1", "v1", "v3")


def test_spending_counts_estimates_then_actual_costs(database: str) -> None:
    store = Store(database)
    store.add(row("v1", cost_currency="USD", cost_estimate="0.5"))
    store.add(row("v2", cost_currency="USD", cost_estimate="0.5", cost_actual="0.3"))
    store.add(row("v3", cost_currency="USD", cost_estimate="9", status="failed", task_id=None))
    store.add(row("v4", cost_currency="USD", cost_estimate="9", created_ms=10))
    assert store.spent("a", since_ms=500, currency="USD") == Decimal("0.8")
    assert store.spent("b", since_ms=0, currency="USD") == 0


def test_a_failing_check_adds_nothing(database: str) -> None:
    store = Store(database)

    def refuse() -> None:
        raise ValueError("over the cap")

    with pytest.raises(ValueError):
        store.add(row("v1"), refuse)
    assert store.get("v1") is None
    store.add(row("v1"), lambda: None)
    assert store.get("v1") is not None


def test_keys_and_callbacks_round_trip(database: str) -> None:
    from videoprovider.server.store import CallbackRow, KeyRow

    store = Store(database)
    store.add_key(KeyRow("a", "sha256:" + "0" * 64, ("fake",), (), 5, "1 USD", "day", 1))
    assert store.revoke_key("a", 2) and not store.revoke_key("a", 3)
    (key,) = store.key_rows()
    assert (key.providers, key.revoked_ms) == (("fake",), 2)
    store.add(row("v1"))
    store.add_callback(CallbackRow("msg_1", "v1", "https://x.example", "{}", 0))
    store.callback_tried("msg_1", 1, "HTTP 500")
    assert [c.attempts for c in store.pending_callbacks()] == [1]
    store.callback_tried("msg_1", 2, None, delivered_ms=5)
    assert store.pending_callbacks() == [] and store.callback_counts() == {"delivered": 1}
    assert [v.id for v in store.page("a", None, 10, "desc")] == ["v1"]


def test_a_rate_bucket_is_shared_by_stores_and_refills_with_wall_time(database: str) -> None:
    one, two = Store(database), Store(database)
    try:
        assert [s.take_token("a", 2, now_ms=1000) for s in (one, two)] == [None, None]
        assert two.take_token("a", 2, now_ms=1000) == 0.0
        assert one.take_token("b", 2, now_ms=1000) is None  # each caller its own bucket
        # Time that goes back (a skewed clock elsewhere) refills nothing.
        assert one.take_token("a", 2, now_ms=0) == 0.0
        assert one.take_token("a", 2, now_ms=16_000) == pytest.approx(0.5)
        assert two.take_token("a", 2, now_ms=31_000) is None
        assert one.take_token("a", 2, now_ms=31_000) == 0.0
        # A long idle time fills the bucket only up to the rate.
        assert [one.take_token("a", 2, now_ms=10**9) for _ in range(3)][-1] == 0.0
    finally:
        one.close()
        two.close()


def test_processes_opening_a_new_database_together_all_open_it(database: str) -> None:
    # Gateways (or `serve --workers N`) starting at once on an empty database: each creates
    # the gateway's tables and the journal's; none may fail on the other's creation.
    import threading

    from videoprovider.journal import open_journal

    starting = threading.Barrier(6)
    failures: list[BaseException] = []

    def start() -> None:
        starting.wait(timeout=30)
        try:
            Store(database).close()
            open_journal(database).close()
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    store = Store(database)
    store.add(row("v1"))
    assert store.get("v1") is not None
