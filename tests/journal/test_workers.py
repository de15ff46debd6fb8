"""Workers sharing a journal share their account's request budget (sqlite and PostgreSQL)."""

import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from videoprovider import AsyncVideoClient, VirtualClock
from videoprovider.journal import Journal
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


def test_two_workers_each_get_half_the_budget_after_warming_up(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    assert a(20) == 20  # alone: nobody has a share to give up, so no waiting
    assert b(20) == 0  # a newcomer waits for the others to count it
    clock.advance(WARM_UP)
    assert a(20) == b(20) == 10


def test_a_newcomer_halves_the_share_before_it_polls(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    assert a(20) == 20
    clock.advance(WARM_UP)
    assert a(20) == 20
    assert b(20) == 0
    # Within one heartbeat `a` has counted `b`, and `b` waits until then and a second more.
    clock.advance(HEARTBEAT)
    assert a(20) == 10 and b(20) == 0
    clock.advance(WARM_UP - HEARTBEAT)
    assert b(20) == 10


def test_a_dead_worker_ages_out(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    a(20), b(20)
    clock.advance(WARM_UP)
    assert a(20) == 10
    for _ in range(int(LIVE_WINDOW / HEARTBEAT) + 1):  # `b` never beats again
        clock.advance(HEARTBEAT)
        a(20)
    assert a(20) == 20


def test_a_worker_that_leaves_gives_its_share_back(journal: Journal) -> None:
    clock = VirtualClock()
    a, b = shares(journal, clock, "a", "b")
    a(20), b(20)
    clock.advance(WARM_UP)
    assert a(20) == 10
    b.leave()
    clock.advance(HEARTBEAT)
    assert a(20) == 20


def test_other_accounts_do_not_count(journal: Journal) -> None:
    clock = VirtualClock()
    (a,) = shares(journal, clock, "a")
    (other,) = shares(journal, clock, "other")
    a(20), other(20)
    clock.advance(WARM_UP)
    assert a(20) == 20


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

    async with client() as one, client() as two:
        assert one.scheduler.share is not None and two.scheduler.share is not None
        one.scheduler.share(20), two.scheduler.share(20)
        clock.advance(WARM_UP)
        assert one.scheduler.share(20) == two.scheduler.share(20) == 10
    # Closed clients leave: a later worker on the account has the whole budget at once.
    async with client() as three:
        assert three.scheduler.share is not None
        assert three.scheduler.share(20) == 20


def test_a_client_without_a_journal_spends_the_whole_budget() -> None:
    client = AsyncVideoClient("fake", config=False, environ={}, poll_budget=20)
    assert client.scheduler.share is None
