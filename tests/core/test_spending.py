"""max_spend: a cap per calendar period on what the journal's tasks cost, before anything is
sent; the estimate is journaled before the submit leaves, the actual cost replaces it."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from videoprovider import (
    AsyncVideoClient,
    ConfigurationError,
    RequestRejected,
    Task,
    VideoClient,
    VirtualClock,
    hookimpl,
)
from videoprovider.spending import period_start

PRICES = '[[prices.fake]]\nmodel = "fake-*"\nper_second = 0.25\ncurrency = "USD"\n'
NOON = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)


class Submitted:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    @hookimpl
    def videoprovider_task_submitted(self, task: Task) -> None:
        self.tasks.append(task)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "videoprovider.toml"
    path.write_text(PRICES)
    return path


def client(config: Path, clock: VirtualClock | None = None, **settings: Any) -> VideoClient:
    return VideoClient(
        "fake",
        config=config,
        environ={},
        clock=clock or VirtualClock(NOON),
        journal=config.parent / "journal.sqlite3",
        **settings,
    )


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("hour", datetime(2026, 3, 4, 15, tzinfo=timezone.utc)),
        ("day", datetime(2026, 3, 4, tzinfo=timezone.utc)),
        ("week", datetime(2026, 3, 2, tzinfo=timezone.utc)),  # the Monday
        ("month", datetime(2026, 3, 1, tzinfo=timezone.utc)),
    ],
)
def test_a_period_is_the_calendar_one_in_utc(period: Any, start: datetime) -> None:
    plus_two = timezone(timedelta(hours=2))
    now = datetime(2026, 3, 4, 17, 42, 7, tzinfo=plus_two)  # 15:42:07 UTC, a Wednesday
    assert period_start(now, period) == start


def test_a_submit_over_the_days_cap_is_refused_unsent_naming_all_four(config: Path) -> None:
    sent = Submitted()
    with client(config, max_spend="2.50 USD") as c:
        c.register(sent)
        c.submit("a cat", model="fake-1", duration=4)  # 1.00
        c.submit("a cat", model="fake-1", duration=4)  # 2.00
        with pytest.raises(RequestRejected) as caught:
            c.submit("a cat", model="fake-1", duration=4)
        assert c.journal is not None and len(c.journal.entries()) == 2
    assert len(sent.tasks) == 2
    message = str(caught.value)
    assert caught.value.field == "max_spend"
    assert "the estimate 1.00 USD" in message  # the estimate
    assert "spent since" in message and ": 2.00 USD" in message  # the spending so far
    assert "over 2.50 USD" in message and "this day" in message  # the cap and its period


def test_the_cap_counts_every_process_sharing_the_journal_and_resets_next_period(
    config: Path,
) -> None:
    clock = VirtualClock(NOON)
    with client(config, clock) as uncapped:
        uncapped.submit("a cat", model="fake-1", duration=8)  # 2.00, journaled, no cap here
    with client(config, clock, max_spend=2.5) as capped:
        with pytest.raises(RequestRejected, match=r"spending this day to 3\.00 USD"):
            capped.submit("a cat", model="fake-1", duration=4)
        clock.advance(timedelta(days=1).total_seconds())
        capped.submit("a cat", model="fake-1", duration=4)


def test_an_unknown_estimate_under_the_cap_is_refused_unless_allowed(config: Path) -> None:
    with client(config, max_spend="5") as c:
        with pytest.raises(RequestRejected, match=r"cost is unknown .* max_spend 5 per day"):
            c.submit("a cat", model="unpriced")
        assert c.journal is not None and c.journal.entries() == []
        c.submit("a cat", model="unpriced", allow_unknown_cost=True)


def test_a_cap_in_another_currency_refuses_and_names_both(config: Path) -> None:
    with (
        client(config, max_spend="100 CNY") as c,
        pytest.raises(
            RequestRejected, match=r"estimate is in USD .* max_spend 100 CNY per day is in CNY"
        ),
    ):
        c.submit("a cat", model="fake-1", duration=4)


def test_a_cap_needs_the_journal_and_a_valid_amount(config: Path) -> None:
    with pytest.raises(ConfigurationError, match="max_spend needs the journal"):
        VideoClient("fake", config=config, environ={}, max_spend="5")
    with pytest.raises(ConfigurationError, match="max_spend 'lots' is not an amount"):
        client(config, max_spend="lots")
    with pytest.raises(ConfigurationError, match="spend_period"):
        client(config, max_spend="5", spend_period="fortnight")


def test_the_actual_cost_replaces_the_estimate_in_the_spending(config: Path) -> None:
    clock = VirtualClock(NOON)
    with client(config, clock, max_spend="2") as c:
        # No duration: the estimate is unknown; the fake then bills its 3 s clip.
        task = c.submit("a cat", model="fake-1", allow_unknown_cost=True)
        assert c.journal is not None
        since = period_start(clock.now(), "day")
        assert c.journal.spent(since, "USD") == 0
        status = c.wait(task)
        assert status.cost is not None and status.cost.actual
        assert str(status.cost).startswith("actual 0.75 USD (3 s x any resolution")
        assert c.journal.spent(since, "USD") == Decimal("0.75")
        with pytest.raises(RequestRejected, match=r"spent since .*: 0.75 USD"):
            c.submit("a cat", model="fake-1", duration=6)  # 1.50 more


@pytest.mark.anyio
async def test_the_async_client_holds_the_same_cap(config: Path) -> None:
    async with AsyncVideoClient(
        "fake",
        config=config,
        environ={},
        clock=VirtualClock(NOON),
        journal=config.parent / "journal.sqlite3",
        max_spend="1.50",
    ) as c:
        await c.submit("a cat", model="fake-1", duration=4)
        with pytest.raises(RequestRejected, match=r"over 1\.50 USD"):
            await c.submit("a cat", model="fake-1", duration=4)
