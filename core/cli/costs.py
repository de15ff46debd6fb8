"""What videos cost: `videoprovider estimate` before, `videoprovider costs` after, and the
--max-cost and --max-spend caps of submit and generate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .app import State, run
from .journal import age_seconds, configured_journal
from .options import build_request, request_options

if TYPE_CHECKING:
    from ..journal import JournalEntry
    from ..sync import VideoClient

F = TypeVar("F", bound=Callable[..., Any])


def cost_options(fn: F) -> F:
    """--max-cost and --allow-unknown-cost, as `submit` takes them (max_cost,
    allow_unknown_cost), and --max-spend and --spend-period, the client settings."""
    fn = click.option(
        "--spend-period",
        type=click.Choice(["hour", "day", "week", "month"]),
        default=None,
        help="The calendar period (UTC) of --max-spend (default: the spend_period setting).",
    )(fn)
    fn = click.option(
        "--max-spend",
        default=None,
        metavar="AMOUNT",
        help="Refuse, unsent, a request that would take the period's spending, counted in "
        "the journal, over AMOUNT (default: the max_spend setting).",
    )(fn)
    fn = click.option(
        "--allow-unknown-cost",
        is_flag=True,
        help="With a cap, submit even when no price is known for the request.",
    )(fn)
    return click.option(
        "--max-cost",
        default=None,
        metavar="AMOUNT",
        help='Refuse, unsent, a request estimated above AMOUNT (e.g. 0.50 or "0.50 USD").',
    )(fn)


@click.command()
@click.argument("prompt")
@request_options
@click.pass_obj
def estimate(state: State, /, prompt: str, extra: tuple[str, ...], **fields: Any) -> None:
    """Print what PROMPT with these options would cost, from the provider's price table and
    the config file's [prices]; unknown, with the reason, when no price fits. Sends nothing."""

    def body() -> None:
        request = build_request(prompt, extra, fields)
        with _pricing_client(state) as client:
            found = client.estimate(request)
        if found.known:
            source = f"\nsource: {found.source}" if found.source else ""
            text = f"{found.amount} {found.currency}\nbasis: {found.basis}"
            text += f"\nprices as of: {found.as_of or 'not dated'}{source}"
        else:
            text = f"unknown: {found.basis}"
        state.show(text, found)

    run(state, body)


def _pricing_client(state: State) -> VideoClient:
    """A client that can price requests, with no journal, and no API key needed."""
    from ..config import load_config
    from ..errors import ConfigurationError
    from ..pricing import credential_placeholders
    from ..sync import VideoClient

    try:
        return VideoClient(state.provider, journal=False)
    except ConfigurationError:
        # Perhaps only the key is missing; if anything else is wrong, this fails again.
        name = state.provider or load_config().core.provider
        return VideoClient(name, journal=False, **credential_placeholders(name))


def spend_settings(max_spend: str | None, spend_period: str | None) -> dict[str, str]:
    """--max-spend and --spend-period as client settings (given ones only)."""
    given = {"max_spend": max_spend, "spend_period": spend_period}
    return {k: v for k, v in given.items() if v is not None}


GROUPS = {
    "provider": lambda e: e.provider,
    "model": lambda e: e.request.model or "(default model)",
    "day": lambda e: e.created_at.date().isoformat(),
}


@click.command()
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="AGE",
    help="Tasks submitted within AGE: 3600, 90m, 12h, 7d or 2w.",
)
@click.option("--by", type=click.Choice(sorted(GROUPS)), default="provider", show_default=True)
@click.pass_obj
def costs(state: State, /, since: str, by: str) -> None:
    """What the journal's tasks cost, per provider, model or day and per currency: actual
    where the provider reported usage, else the estimate (counted apart), with the tasks
    whose cost is unknown. Refused submits and abandoned ones cost nothing."""
    seconds = age_seconds(since, "--since")

    def body() -> None:
        from ..journal import SPENDING_PHASES

        start = datetime.now(timezone.utc) - timedelta(seconds=seconds)
        journal = configured_journal()
        try:
            entries = [
                e for e in journal.entries() if e.created_at >= start and e.phase in SPENDING_PHASES
            ]
        finally:
            journal.close()
        rows = totals(entries, GROUPS[by])
        doc = {"since": start.isoformat(), "by": by, "totals": rows}
        state.show(_table(by, rows) if rows else f"no tasks since {start:%Y-%m-%d %H:%M} UTC", doc)

    run(state, body)


def totals(entries: list[JournalEntry], key: Callable[[JournalEntry], str]) -> list[dict[str, Any]]:
    """One row per group and currency: the total, its actual and estimated parts, and the
    number of tasks of each kind (unknown: no price was known)."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = defaultdict(
        lambda: (
            {"total": Decimal(0), "actual": Decimal(0), "estimated": Decimal(0)}
            | {"tasks": 0, "actual_tasks": 0, "estimated_tasks": 0, "unknown_tasks": 0}
        )
    )
    for entry in entries:
        row = groups[key(entry), entry.currency if entry.cost is not None else None]
        row["tasks"] += 1
        if entry.actual_cost is not None:
            row["actual"] += entry.actual_cost
            row["actual_tasks"] += 1
        elif entry.estimate is not None:
            row["estimated"] += entry.estimate
            row["estimated_tasks"] += 1
        else:
            row["unknown_tasks"] += 1
        row["total"] = row["actual"] + row["estimated"]
    return [
        {"group": group, "currency": currency, **{k: _plain(v) for k, v in row.items()}}
        for (group, currency), row in sorted(groups.items(), key=lambda i: (i[0][0], i[0][1] or ""))
    ]


def _plain(value: Decimal | int) -> str | int:
    return str(value) if isinstance(value, Decimal) else value


def _table(by: str, rows: list[dict[str, Any]]) -> str:
    header = (by.upper(), "CURRENCY", "TOTAL", "ACTUAL", "ESTIMATED", "TASKS", "UNKNOWN")
    cells = [header] + [
        (
            r["group"],
            r["currency"] or "-",
            r["total"],
            f"{r['actual']} ({r['actual_tasks']})",
            f"{r['estimated']} ({r['estimated_tasks']})",
            str(r["tasks"]),
            str(r["unknown_tasks"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    # Which figures are measured and which are only the estimate, said once under the table.
    note = "ACTUAL: priced from reported usage; ESTIMATED: no usage reported; (n): tasks"
    return "\n".join([*lines, note])


COMMANDS = (estimate, costs)
