"""Settling submits whose outcome is unknown: find the task each may have created.

A submit that reached the provider but got no reply (a dropped connection, a 5xx, a crash
between sending and recording) leaves a journal entry in `outcome_unknown`: a task may
exist, and may be costing money, with no id here. The provider's task listing, over the
minutes around the submit and for its model, shows the candidates no journal entry knows.
The user adopts one (the entry then resumes like any other) or abandons the entry; nothing
is adopted automatically, since two programs on one account can submit the same model in
the same minute.

A provider that declares `recoverable_submits` took a task id chosen by the client (kept in
the journaled request), so no guessing is needed: its entries are settled by asking the
service for the task by that id (`videoprovider_recover_submit`), and, only when the service
says it has none, by sending the create again with the same id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from .backend import Backend
from .errors import ConfigurationError, ProtocolError, VideoProviderError
from .journal.entry import JournalEntry, Phase
from .journal.recorder import Recorder
from .models import Task, TaskStatus, VideoRequest
from .usage import requests_of

__all__ = ["Orphan", "Reconciler", "list_all", "with_submit_id"]

# The task is created while the submit is in flight: after the intent was recorded, within
# the request's timeout. A little before, for clocks that disagree by a minute.
BEFORE = timedelta(minutes=2)
AFTER = timedelta(minutes=15)
MAX_PAGES = 50  # 5,000 tasks in the minutes around one submit is far beyond any account


@dataclass(frozen=True)
class Orphan:
    """An entry whose submit's outcome is unknown, and the tasks that may be its task.

    `candidates` is None when the provider cannot list tasks (nothing can be checked).
    `recovered` is the task found (or created anew) by the submit's client-chosen id: the
    entry is settled and resumes as usual; `error` says why such a recovery could not tell.
    """

    entry: JournalEntry
    candidates: list[TaskStatus] | None
    recovered: Task | None = None
    error: VideoProviderError | None = None


def with_submit_id(request: VideoRequest, key: str | None) -> VideoRequest:
    """`request` with a fresh client-chosen task id under `extra[key]` (unless it has one)."""
    if key is None or request.extra.get(key):
        return request
    return request.model_copy(update={"extra": {**request.extra, key: f"vp-{uuid4().hex}"}})


async def list_all(
    backend: Backend, since: datetime, until: datetime, model: str | None
) -> list[TaskStatus]:
    """Every task the provider lists in the window, page after page (up to MAX_PAGES)."""
    found: list[TaskStatus] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await backend.list_page(since, until, model, False, token)
        found += page.statuses
        token = page.next_page
        if token is None:
            break
    return found


class Reconciler:
    """Settles one client's unknown outcomes; the journal is read and written in worker
    threads (journal/recorder.py), each step in one hop."""

    def __init__(self, recorder: Recorder, backend: Callable[[str], Backend]) -> None:
        if recorder.journal is None:
            raise ConfigurationError(
                "Settling unknown outcomes needs the journal, and this client has none.",
                hint="Create the client with journal=True (CLI: the journal is on by default).",
            )
        self._recorder = recorder
        self._journal = recorder.journal
        self._backend = backend

    async def recover(self, provider: str | None = None) -> list[Orphan]:
        """Settle the `outcome_unknown` entries of providers with recoverable submits."""
        entries = await self._recorder.run(self._journal.entries, phase=Phase.OUTCOME_UNKNOWN)
        found = []
        for entry in entries:
            if provider is not None and entry.provider != provider:
                continue
            backend = self._backend(entry.provider)
            key = backend.declared.recoverable_submits
            if key is not None and entry.request.extra.get(key):
                found.append(await self._recover_one(backend, entry))
        return found

    async def _recover_one(self, backend: Backend, entry: JournalEntry) -> Orphan:
        try:
            with requests_of("recover"):
                task = await backend.pm.hook.videoprovider_recover_submit(request=entry.request)
            if task is not None and not isinstance(task, Task):
                raise ProtocolError(
                    f"The {backend.name} provider's recover_submit returned "
                    f"{type(task).__name__}, not a Task or None.",
                    provider=backend.name,
                    operation="recover",
                )
            if task is None:
                # The service has no task with this id: the create never landed, and a resend
                # carries the same id, so it cannot make a second one.
                task = await backend.invoke(
                    "videoprovider_submit", "submit", Task, None, request=entry.request
                )
        except VideoProviderError as exc:
            return Orphan(entry, None, error=exc)
        settled = await self._recorder.run(self._settle, entry, task)
        return Orphan(settled, None, recovered=task)

    def _settle(self, entry: JournalEntry, task: Task) -> JournalEntry:
        self._journal.submitted(entry.id, task)
        return self._journal.get(entry.id) or entry

    async def orphans(self) -> list[Orphan]:
        """Every `outcome_unknown` entry, each with the unclaimed tasks that could be its own;
        entries of providers with recoverable submits are recovered first (`recover`)."""
        found = await self.recover()
        done = {o.entry.id for o in found}
        entries, claimed = await self._recorder.run(self._unclaimed)
        entries = [e for e in entries if e.id not in done]
        for entry in entries:
            backend = self._backend(entry.provider)
            if not backend.pm.hook.videoprovider_list_tasks.get_hookimpls():
                found.append(Orphan(entry, None))
                continue
            since, until = entry.created_at - BEFORE, entry.created_at + AFTER
            listed = await list_all(backend, since, until, entry.request.model)
            candidates = [
                s
                for s in listed
                if (entry.provider, s.task_id) not in claimed
                and (s.submitted_at is None or since <= s.submitted_at <= until)
            ]
            found.append(Orphan(entry, candidates))
        return found

    def _unclaimed(self) -> tuple[list[JournalEntry], set[tuple[str, str]]]:
        entries = self._journal.entries(phase=Phase.OUTCOME_UNKNOWN)
        claimed = {(e.provider, e.task_id) for e in self._journal.entries() if e.task_id}
        return entries, claimed

    async def adopt(self, entry_id: str, task_id: str) -> JournalEntry:
        """Make `task_id` the task of the unknown-outcome entry `entry_id`; it then resumes."""
        return await self._recorder.run(self._adopt, entry_id, task_id)

    async def abandon(self, entry_id: str) -> JournalEntry:
        """Settle the entry as having no task to follow; it is listed no more."""
        return await self._recorder.run(self._abandon, entry_id)

    def _adopt(self, entry_id: str, task_id: str) -> JournalEntry:
        entry = self._unknown(entry_id)
        return self._settle(entry, Task(provider=entry.provider, task_id=task_id))

    def _abandon(self, entry_id: str) -> JournalEntry:
        entry = self._unknown(entry_id)
        self._journal.submit_failed(
            entry.id, Phase.ABANDONED, "Abandoned by the user: no task to follow."
        )
        return self._journal.get(entry.id) or entry

    def _unknown(self, entry_id: str) -> JournalEntry:
        entry = self._journal.find(entry_id)
        if entry is None or entry.phase is not Phase.OUTCOME_UNKNOWN:
            state = "no such entry" if entry is None else f"it is {entry.phase.value}"
            raise ConfigurationError(
                f"Journal entry {entry_id!r} is not an unknown outcome ({state}).",
                hint="`videoprovider tasks reconcile` lists the entries to settle.",
            )
        return entry
