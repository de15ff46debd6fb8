"""The `tasks` commands: what the journal holds, and picking unfinished tasks up again."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from .app import State, run

if TYPE_CHECKING:
    from ..journal import Journal, JournalEntry

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def age_seconds(value: str, param_hint: str) -> float:
    """An age such as 3600, 90m, 12h, 7d or 2w, in seconds."""
    match = _DURATION.match(value)
    if not match:
        raise click.BadParameter(
            "use a number with s, m, h, d or w, e.g. 7d", param_hint=param_hint
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def configured_journal() -> Journal:
    """The configured journal, which these commands read directly."""
    from ..config import load_config
    from ..journal import open_journal

    return open_journal(load_config().core.journal_url)


def _row(entry: JournalEntry) -> dict[str, Any]:
    doc = entry.model_dump(mode="json", exclude={"request"})
    doc["prompt"] = entry.request.prompt
    doc["ref"] = _ref(entry)
    doc["video"] = entry.video_expiry()
    return doc


def _ref(entry: JournalEntry) -> str | None:
    return f"{entry.provider}:{entry.task_id}" if entry.task_id else None


def _table(entries: list[JournalEntry]) -> str:
    """One row per entry under a header. ID is the start of the journal id (what `tasks show`
    takes); TASK is the task's whole reference, `provider:task_id` (what `wait`, `url` and
    `download` take with any configured provider), since ids of one provider often share a
    long prefix."""
    header = ("ID", "PROVIDER", "PHASE", "STATE", "TASK", "COST", "PATH")
    rows = [header, *(_cells(e) for e in entries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]
        ).rstrip()
        for row in rows
    )


def cost_text(entry: JournalEntry) -> str:
    """ "0.08 USD" when actual, "0.10 USD est." for an estimate, "?" when unknown."""
    if entry.cost is None:
        return "?"
    return f"{entry.cost} {entry.currency}" + ("" if entry.actual_cost is not None else " est.")


def _cells(entry: JournalEntry) -> tuple[str, ...]:
    note = {"soon": "  ! video URL expires soon: collect it", "lost": "  ! video URL expired"}.get(
        entry.video_expiry() or "", ""
    )
    if entry.phase.value == "outcome_unknown":
        note = "  ! submit outcome unknown: check the provider before resubmitting"
    where = entry.path or entry.target_path or ""
    return (
        entry.id[:12],
        entry.provider,
        entry.phase.value,
        entry.state.value if entry.state else "-",
        _ref(entry) or "-",
        cost_text(entry),
        f"{where}{note}".strip(),
    )


@click.group()
def tasks() -> None:
    """The task journal: list, show, resume, reconcile and prune journaled tasks."""


@tasks.command("list")
@click.option(
    "--state",
    type=click.Choice(
        ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELED", "UNKNOWN"],
        case_sensitive=False,
    ),
)
@click.option(
    "--phase",
    type=click.Choice(
        ["intent", "outcome_unknown", "rejected", "submitted", "finished", "collected"]
    ),
)
@click.pass_obj
def list_(state_: State, /, state: str | None, phase: str | None) -> None:
    """Journaled tasks, oldest first; flags videos about to be lost and unknown outcomes."""

    def body() -> None:
        from ..journal import Phase
        from ..models import TaskState

        journal = configured_journal()
        try:
            entries = journal.entries(
                phase=Phase(phase) if phase else None,
                state=TaskState(state.upper()) if state else None,
            )
        finally:
            journal.close()
        text = _table(entries) if entries else "(the journal is empty)"
        state_.show(text, [_row(e) for e in entries])

    run(state_, body)


@tasks.command()
@click.argument("key", metavar="ID")
@click.pass_obj
def show(state: State, /, key: str) -> None:
    """One journaled task, by journal id (or its prefix) or provider task id."""

    def body() -> None:
        from ..errors import TaskNotFound

        journal = configured_journal()
        try:
            entry = journal.find(key)
        finally:
            journal.close()
        if entry is None:
            raise TaskNotFound(
                f"The journal has no task {key!r}.",
                hint="`videoprovider tasks list` shows what it has.",
            )
        doc = entry.model_dump(mode="json")
        text = "\n".join(f"{k}: {v}" for k, v in doc.items())
        state.show(f"{text}\ncost: {cost_text(entry)}", doc)

    run(state, body)


@tasks.command()
@click.option("--timeout", type=float, default=None, help="Seconds to wait for each task.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Take at most this many tasks (to spread them over several workers).",
)
@click.pass_obj
def resume(state: State, /, timeout: float | None, limit: int | None) -> None:
    """Wait for every unfinished journaled task (leased, so workers can share a journal)."""

    def body() -> int:
        from ..client import DEFAULT
        from ..sync import VideoClient

        journal = configured_journal()
        try:
            providers = sorted({e.provider for e in journal.unfinished()})
        finally:
            journal.close()
        results = []
        for name in providers:
            with VideoClient(name, journal=True) as client:
                results += client.resume(
                    timeout=DEFAULT if timeout is None else timeout, limit=limit
                )
        lines, failed = [], 0
        for r in results:
            if r.error is not None:
                failed += 1
                lines.append(f"{r.ref}  error: {r.error.message}")
            elif r.skipped:
                lines.append(f"{r.ref}  skipped: {r.skipped}")
            else:
                assert r.status is not None
                lines.append(f"{r.ref}  {r.status.state.value}  {r.path or ''}".rstrip())
        docs = [
            {
                "entry_id": r.entry_id,
                "task_id": r.task_id,
                "ref": r.ref,
                "path": r.path,
                "state": r.status.state.value if r.status else None,
                "skipped": r.skipped,
                "error": r.error.message if r.error else None,
            }
            for r in results
        ]
        state.show("\n".join(lines) or "nothing to resume", docs)
        return 1 if failed else 0

    run(state, body)


@tasks.command()
@click.option(
    "--older-than", required=True, metavar="AGE", help="Age such as 3600, 90m, 12h, 7d or 2w."
)
@click.pass_obj
def prune(state: State, /, older_than: str) -> None:
    """Delete finished, collected and rejected entries older than AGE (never open ones)."""
    seconds = age_seconds(older_than, "--older-than")

    def body() -> None:
        journal = configured_journal()
        try:
            removed = journal.prune(seconds)
        finally:
            journal.close()
        state.show(
            f"removed {removed} entries",
            {
                "removed": removed,
                "older_than_seconds": seconds,
                "at": datetime.now(timezone.utc).isoformat(),
            },
        )

    run(state, body)


@tasks.command()
@click.option("--adopt", nargs=2, metavar="ID TASK", help="Make TASK the task of entry ID.")
@click.option("--abandon", metavar="ID", help="Settle entry ID as having no task to follow.")
@click.pass_obj
def reconcile(state: State, /, adopt: tuple[str, str] | None, abandon: str | None) -> None:
    """Settle submits whose outcome is unknown: list the tasks each may have created.

    With no option, lists every `outcome_unknown` entry and the tasks of its provider's
    listing (created in the minutes around it, of its model) that no entry claims. Adopt one
    with --adopt ID TASK (the entry then resumes as usual) or settle the entry with
    --abandon ID. Nothing is ever adopted without you, except by a provider that took a
    task id chosen here (Kling's external_task_id): its entries are found again by that id.
    """

    def body() -> None:
        from ..sync import VideoClient

        journal = configured_journal()
        try:
            key = adopt[0] if adopt else abandon
            entry = journal.find(key) if key else None
            providers = sorted({e.provider for e in journal.entries()})
        finally:
            journal.close()
        if key:
            if entry is None:
                raise click.UsageError(f"the journal has no entry {key!r}")
            with VideoClient(entry.provider, journal=True) as client:
                settled = client.adopt(*adopt) if adopt else client.abandon(entry.id)
            state.show(f"{settled.id[:12]}  {settled.phase.value}", _row(settled))
            return
        lines: list[str] = []
        docs: list[dict[str, Any]] = []
        for name in providers:
            with VideoClient(name, journal=True) as client:
                for orphan in client.orphans():
                    e = orphan.entry
                    lines.append(
                        f"{e.id[:12]}  {e.provider}  {e.request.model or '(default model)'}  "
                        f"sent {e.created_at:%Y-%m-%d %H:%M:%S}Z  {e.request.prompt[:40]!r}"
                    )
                    if orphan.recovered is not None:
                        lines.append(
                            f"    recovered by its own task id: {orphan.recovered.ref} "
                            "(`tasks resume` follows it)"
                        )
                    elif orphan.error is not None:
                        lines.append(f"    could not ask {e.provider} yet: {orphan.error.message}")
                    elif orphan.candidates is None:
                        lines.append(f"    {e.provider} cannot list tasks; check its console")
                    elif not orphan.candidates:
                        lines.append("    no unclaimed task in that window: --abandon it")
                    for c in orphan.candidates or []:
                        at = f"{c.submitted_at:%H:%M:%S}Z" if c.submitted_at else "?"
                        lines.append(f"    candidate {c.task_id}  {c.state.value}  created {at}")
                    docs.append(
                        {
                            "entry": _row(e),
                            "recovered": orphan.recovered.ref if orphan.recovered else None,
                            "candidates": None
                            if orphan.candidates is None
                            else [c.model_dump(mode="json") for c in orphan.candidates],
                        }
                    )
        state.show("\n".join(lines) or "no unknown outcomes to settle", docs)

    run(state, body)


COMMANDS = (tasks,)
