"""The spending cap holds across processes sharing one journal, on SQLite and PostgreSQL:
the check of the period's spending and the journaling of the new estimate are one step."""

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from videoprovider import RequestRejected, VideoRequest
from videoprovider.journal import Journal, open_journal
from videoprovider.models import Estimate
from videoprovider.spending import SpendCap

REQUEST = VideoRequest(prompt="a cat")
ONE = Estimate(amount=Decimal("1.00"), currency="USD", basis="4 s x any at 0.25 USD/s")
SINCE = datetime(2000, 1, 1, tzinfo=timezone.utc)
Spent = Callable[[datetime, str], Decimal]


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journal.sqlite3'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    store = open_journal(url)
    store._run("DELETE FROM videoprovider_journal")
    store.close()
    yield url


def capped(cap: SpendCap, found: Estimate = ONE) -> Callable[[Spent], None]:
    def within(spent: Spent) -> None:
        cap.admit(found, spent(SINCE, "USD"), SINCE)

    return within


def test_a_second_writer_waits_for_the_first_and_then_sees_its_estimate(
    journal_url: str,
) -> None:
    """B tries to journal under the cap while A is between reading and writing: B must wait
    for A's write and then be refused, not read the spending A has not written yet."""
    a, b = open_journal(journal_url), open_journal(journal_url)
    cap = SpendCap(Decimal("1.50"), "USD", "day")
    outcome: list[str] = []

    def b_submits() -> None:
        try:
            b.intent("fake", REQUEST, None, "b", estimate=ONE, within=capped(cap))
            outcome.append("admitted")
        except RequestRejected:
            outcome.append("refused")

    second = threading.Thread(target=b_submits)

    def a_checks(spent: Spent) -> None:
        capped(cap)(spent)
        second.start()
        # Without the lock, B reads 0 spent and finishes within this window.
        second.join(timeout=0.5)

    try:
        a.intent("fake", REQUEST, None, "a", estimate=ONE, within=a_checks)
        second.join(timeout=30)
        assert outcome == ["refused"]
        assert b.spent(SINCE, "USD") == Decimal("1.00")
    finally:
        a.close()
        b.close()


def test_threads_racing_on_separate_connections_never_pass_the_cap(journal_url: str) -> None:
    cap = SpendCap(Decimal("5"), "USD", "day")
    journals = [open_journal(journal_url) for _ in range(4)]
    admitted: list[int] = []
    start = threading.Barrier(len(journals))

    def worker(journal: Journal) -> None:
        start.wait()
        for _ in range(4):
            try:
                journal.intent("fake", REQUEST, None, "w", estimate=ONE, within=capped(cap))
                admitted.append(1)
            except RequestRejected:
                pass

    threads = [threading.Thread(target=worker, args=(j,)) for j in journals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert len(admitted) == 5
        assert journals[0].spent(SINCE, "USD") == Decimal("5.00")
    finally:
        for j in journals:
            j.close()


WORKER = """
import sys
from videoprovider import RequestRejected, VideoClient

sent = 0
with VideoClient("fake", config=sys.argv[1], environ={}, journal=sys.argv[2],
                 max_spend="5 USD", spend_period="day") as client:
    for _ in range(6):
        try:
            client.submit("a cat", model="fake-1", duration=4)
            sent += 1
        except RequestRejected:
            pass
print(sent)
"""


def test_a_daily_cap_holds_across_two_processes(journal_url: str, tmp_path: Path) -> None:
    config = tmp_path / "prices.toml"
    config.write_text('[[prices.fake]]\nmodel = "*"\nper_second = 0.25\ncurrency = "USD"\n')
    command = [sys.executable, "-c", textwrap.dedent(WORKER), str(config), journal_url]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    sent = [int(w.communicate(timeout=120)[0]) for w in workers]
    assert sum(sent) == 5  # 1.00 each under 5 USD a day, from 12 attempts
    journal = open_journal(journal_url)
    try:
        assert len(journal.entries()) == 5
        assert journal.spent(SINCE, "USD") == Decimal("5.00")
    finally:
        journal.close()
