"""Workers sharing a journal share their account's request budget (sqlite and PostgreSQL)."""

import sqlite3
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel, SecretStr

from videoprovider import AsyncVideoClient, TaskState, VirtualClock
from videoprovider.journal import Journal, SQLiteJournal
from videoprovider.journal.workers import (
    HEARTBEAT,
    LIVE_WINDOW,
    WARM_UP,
    AccountShare,
    account_key,
)

KEY = "sk-test-shared-budget-key"


def shares(journal: Journal, clock: VirtualClock, *workers: str) -> list[AccountShare]:
    account = f"acct-{uuid.uuid4().hex[:8]}"  # the PostgreSQL server outlives one test
    return [AccountShare(journal, account, f"{account}-{w}", clock) for w in workers]


def look(share: AccountShare, budget: float = 20) -> float:
    """The share as the scheduler sees it after its drive loop's refresh (here, inline)."""
    share.beat()
    return share(budget)


def test_two_workers_each_get_half_the_budget_after_warming_up(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    assert look(a) == 20  # alone: nobody has a share to give up, so no waiting
    assert look(b) == 0  # a newcomer waits for the others to count it
    clock.advance(WARM_UP)
    assert look(a) == look(b) == 10


def test_a_newcomer_halves_the_share_before_it_polls(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    assert look(a) == 20
    clock.advance(WARM_UP)
    assert look(a) == 20
    assert look(b) == 0
    # Within one heartbeat `a` has counted `b`, and `b` waits until then and a second more.
    clock.advance(HEARTBEAT)
    assert look(a) == 10 and look(b) == 0
    clock.advance(WARM_UP - HEARTBEAT)
    assert look(b) == 10


def test_a_dead_worker_ages_out(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    look(a), look(b)
    clock.advance(WARM_UP)
    assert look(a) == 10
    for _ in range(int(LIVE_WINDOW / HEARTBEAT) + 1):  # `b` never beats again
        clock.advance(HEARTBEAT)
        look(a)
    assert look(a) == 20


def test_a_worker_that_leaves_gives_its_share_back(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    look(a), look(b)
    clock.advance(WARM_UP)
    assert look(a) == 10
    b.leave()
    clock.advance(HEARTBEAT)
    assert look(a) == 20


def test_other_accounts_do_not_count(journal: Journal) -> None:
    clock = VirtualClock()
    (a,) = shares(journal, clock, "a")
    (other,) = shares(journal, clock, "other")
    look(a), look(other)
    clock.advance(WARM_UP)
    assert look(a) == 20


class Settings(BaseModel):
    api_key: SecretStr | None = None
    region: str = "intl"


def test_the_account_is_the_provider_and_a_hash_of_its_credentials() -> None:
    one = account_key("dashscope", Settings(api_key=SecretStr(KEY)))
    assert one == account_key("dashscope", Settings(api_key=SecretStr(KEY), region="cn"))
    assert one != account_key("dashscope", Settings(api_key=SecretStr(KEY + "2")))
    assert one.startswith("dashscope:") and "sk-test" not in one and KEY[-6:] not in one
    assert account_key("fake", Settings()) == "fake"


@pytest.mark.anyio
async def test_clients_on_one_journal_share_their_budget(tmp_path: Path) -> None:
    clock = VirtualClock()
    db = tmp_path / "journal.sqlite3"

    def client() -> AsyncVideoClient:
        return AsyncVideoClient(
            "fake", journal=db, clock=clock, config=False, environ={}, poll_budget=20
        )

    async def share(c: AsyncVideoClient) -> float:
        assert c.scheduler.share is not None
        await c.scheduler.share.refresh()
        return c.scheduler.share(20)

    async with client() as one, client() as two:
        await share(one), await share(two)
        clock.advance(WARM_UP)
        assert await share(one) == await share(two) == 10
    # Closed clients leave: a later worker on the account has the whole budget at once.
    async with client() as three:
        assert await share(three) == 20


def test_a_client_without_a_journal_spends_the_whole_budget() -> None:
    client = AsyncVideoClient("fake", config=False, environ={}, poll_budget=20)
    assert client.scheduler.share is None


class Beats(SQLiteJournal):
    """Tells the test when a heartbeat has started (in whatever thread runs it)."""

    beating = threading.Event()

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        if "heartbeat_ms = :now" in sql:
            self.beating.set()
        return super()._run(sql, params)


@pytest.mark.anyio
async def test_a_heartbeat_held_by_a_locked_journal_stalls_no_other_wait(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    clock = VirtualClock()
    async with (
        AsyncVideoClient(
            "fake", journal=Beats(path), clock=clock, config=False, environ={}, poll_budget=20
        ) as shared,
        AsyncVideoClient("fake", config=False, environ={}, clock=clock, journal=False) as other,
    ):
        await shared.wait(await shared.submit("a cat", extra={"fake": {"seconds": 1}}))
        task = await shared.submit("a dog", extra={"fake": {"seconds": 5}})
        clock.advance(HEARTBEAT)  # the next look beats
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it likes
        ended: list[TaskState] = []

        async def blocked() -> None:
            ended.append((await shared.wait(task)).state)

        async with anyio.create_task_group() as group:
            group.start_soon(blocked)
            assert await anyio.to_thread.run_sync(Beats.beating.wait, 30)
            # The beat waits for the lock in a worker thread; meanwhile the loop runs other
            # waits to their end.
            with anyio.fail_after(30):
                elsewhere = await other.submit("a bird", extra={"fake": {"seconds": 30}})
                final = await other.wait(elsewhere, timeout=None)
            assert final.state is TaskState.COMPLETED
            assert ended == []  # still waiting for the lock, not failed
            lock.execute("ROLLBACK")
        assert ended == [TaskState.COMPLETED]
    lock.close()
