"""The spending cap: `max_spend` per `spend_period`, held across every process that shares
a journal.

Each submit under a cap records its estimate in the journal before it leaves, in the same
transaction that reads what the period has cost so far (journal/store.py), so workers
racing under one cap cannot both slip under it. A task's actual cost replaces its estimate
once the provider has reported its usage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal

from .errors import RequestRejected
from .journal.store import SpendCheck
from .models import Estimate
from .prices import parse_cap

__all__ = ["Period", "SpendCap", "period_start"]

Period = Literal["hour", "day", "week", "month"]


def period_start(now: datetime, period: Period) -> datetime:
    """Where the calendar `period` holding `now` began, in UTC (weeks begin on Monday)."""
    now = now.astimezone(timezone.utc)
    if period == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


@dataclass(frozen=True)
class SpendCap:
    """At most `amount` (in `currency`, or the estimate's) per calendar `period` (UTC)."""

    amount: Decimal
    currency: str | None
    period: Period

    @classmethod
    def parse(cls, max_spend: str, period: Period) -> SpendCap:
        amount, currency = parse_cap(max_spend, field="max_spend")
        return cls(amount, currency, period)

    def __str__(self) -> str:
        return f"max_spend {self.amount}{f' {self.currency}' if self.currency else ''} per " + (
            self.period
        )

    def check(self, found: Estimate, *, allow_unknown: bool) -> str | None:
        """Refuse, before the journal is read, what no spending could allow: an unknown
        estimate (unless `allow_unknown`) or one in another currency. Returns the currency
        whose spending to read, or None when there is nothing to count."""
        if found.amount is None or found.currency is None:
            if allow_unknown:
                return None
            raise RequestRejected(
                f"Not submitted: the cost is unknown ({found.basis}) and {self} is set.",
                hint="Pass allow_unknown_cost=True (CLI: --allow-unknown-cost) to submit anyway.",
                field="max_spend",
            )
        if self.currency and self.currency != found.currency:
            raise RequestRejected(
                f"Not submitted: the estimate is in {found.currency} ({found}) but {self} is "
                f"in {self.currency}.",
                hint=f"Give max_spend in {found.currency}, or set it per currency you use.",
                field="max_spend",
            )
        return found.currency

    def within(self, found: Estimate, now: datetime, *, allow_unknown: bool) -> SpendCheck | None:
        """The check the journal runs inside its spend transaction for a request estimated
        at `found`, submitted `now`; None when there is no spending to count. Raises at
        once what no spending could allow (see `check`)."""
        currency = self.check(found, allow_unknown=allow_unknown)
        if currency is None:
            return None
        since = period_start(now, self.period)

        def within(spent: Callable[[datetime, str], Decimal]) -> None:
            self.admit(found, spent(since, currency), since)

        return within

    def admit(self, found: Estimate, spent: Decimal, since: datetime) -> None:
        """Refuse `found` when it would bring `spent` (since `since`) over the cap."""
        assert found.amount is not None
        if spent + found.amount > self.amount:
            raise RequestRejected(
                f"Not submitted: the estimate {found} would bring the spending this "
                f"{self.period} to {spent + found.amount} {found.currency}, over "
                f"{self.amount} {found.currency} (spent since {since:%Y-%m-%d %H:%M} UTC: "
                f"{spent} {found.currency}).",
                hint=f"Wait for the next {self.period} (periods are UTC), raise max_spend, or "
                "ask for fewer seconds or a lower resolution.",
                field="max_spend",
            )
