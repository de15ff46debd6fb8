"""The conformance kit's checks of the optional task listing (`videoprovider_list_tasks`).

`ProviderConformance` includes them. They apply to a provider that implements the hook
and are skipped, saying so, for one that does not: the hook is optional, and implementing
it is the declaration. Each one names the rule a failure breaks; docs/writing-a-provider.md
explains them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import pytest

from ..clock import Clock
from ..errors import VideoProviderError
from ..models import Task, TaskPage, TaskStatus, VideoRequest
from ..sync import VideoClient
from .faults import FaultTransport

__all__ = ["ListingChecks"]

LONG_WAIT = 7 * 24 * 3600.0
MAX_PAGES = 100
WINDOW = timedelta(hours=1)
# Tokens no provider issues: a link to another host, paths, encodings, controls, a flood.
FOREIGN_TOKENS = [
    "https://attacker.invalid/v1/tasks?page=2",
    "../../secret",
    "%2e%2e%2fsecret",
    "page 2",
    "2\n",
    "x" * 10_000,
]


def list_page(
    client: VideoClient,
    since: datetime,
    until: datetime,
    *,
    finished: bool = False,
    page: str | None = None,
) -> TaskPage:
    """One call of the provider's listing hook through `client`, as the core makes it."""
    backend = client.async_client._backends.main
    listed: TaskPage = client._run(
        backend.invoke,
        "videoprovider_list_tasks",
        "list",
        TaskPage,
        None,
        since=since,
        until=until,
        model=None,
        finished=finished,
        page=page,
    )
    return listed


class ListingChecks:
    """The listing rules; mixed into `ProviderConformance`, which provides the fixtures."""

    provider: ClassVar[str] = ""
    uses_http: ClassVar[bool] = True

    @pytest.fixture
    def kit_lister(self, kit_client: VideoClient) -> VideoClient:
        """The kit's client, for the checks of a provider that lists its tasks."""
        hook = kit_client.async_client._backends.main.pm.hook.videoprovider_list_tasks
        if not hook.get_hookimpls():
            pytest.skip(f"{self.provider} does not implement videoprovider_list_tasks (optional)")
        return kit_client

    def _window(self, clock: Clock) -> tuple[datetime, datetime]:
        now = clock.now()
        return now - WINDOW, now + WINDOW

    def _walk(
        self,
        client: VideoClient,
        transport: FaultTransport,
        since: datetime,
        until: datetime,
        finished: bool,
    ) -> list[TaskStatus]:
        """Every row from the first page to the last, checking one request per call."""
        rows: list[TaskStatus] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            before = len(transport.seen)
            page = list_page(client, since, until, finished=finished, page=token)
            sent = len(transport.seen) - before
            expected = 1 if self.uses_http else 0
            assert sent == expected, (
                f"{self.provider}'s videoprovider_list_tasks made {sent} requests for one "
                f"page (page={token!r}); make exactly {expected} per call and hand the rest "
                "back as next_page: the caller counts each call against the account's budget"
            )
            rows += page.statuses
            if page.next_page is None:
                return rows
            token = page.next_page
        pytest.fail(
            f"{self.provider}'s listing was still handing out next_page tokens after "
            f"{MAX_PAGES} pages of a one-hour window; the last page must say next_page=None"
        )

    def _submit_some(self, client: VideoClient, request: VideoRequest, count: int) -> list[Task]:
        return [client.submit(request) for _ in range(count)]

    @pytest.mark.parametrize("finished", [False, True], ids=["all", "finished"])
    def test_listing_makes_one_request_a_page_and_next_page_walks_every_task_once(
        self,
        finished: bool,
        kit_lister: VideoClient,
        kit_transport: FaultTransport,
        conformance_clock: Clock,
        conformance_request: VideoRequest,
    ) -> None:
        since, until = self._window(conformance_clock)
        tasks = self._submit_some(kit_lister, conformance_request, 3)
        if finished:
            for task in tasks:
                kit_lister.wait(task, timeout=LONG_WAIT)
        listed = [s.task_id for s in self._walk(kit_lister, kit_transport, since, until, finished)]
        for task in tasks:
            count = listed.count(task.task_id)
            assert count == 1, (
                f"walking next_page from None to the end (finished={finished}) listed task "
                f"{task.task_id} {count} times; every task created in the window must be "
                "listed exactly once, each token continuing where the last page ended"
            )

    @pytest.mark.parametrize("token", FOREIGN_TOKENS, ids=range(len(FOREIGN_TOKENS)))
    def test_a_page_token_the_provider_did_not_issue_is_refused_without_a_request(
        self,
        token: str,
        kit_lister: VideoClient,
        kit_transport: FaultTransport,
        conformance_clock: Clock,
    ) -> None:
        # Tokens come back from the caller; one put into a URL as it is would let a
        # stranger's string choose where the next request (and the key) goes.
        since, until = self._window(conformance_clock)
        before = len(kit_transport.seen)
        refused: VideoProviderError | None = None
        try:
            list_page(kit_lister, since, until, page=token)
        except VideoProviderError as exc:
            refused = exc
        sent = kit_transport.seen[before:]
        assert not sent, (
            f"{self.provider} sent a request for the page token {token[:60]!r}, which it did "
            f"not issue: {[s.url[:120] for s in sent]}; check a token against the format "
            "you issue before anything is sent"
        )
        assert refused is not None, (
            f"{self.provider} accepted the page token {token[:60]!r}, which it did not issue; "
            "refuse it (raise ConfigurationError naming next_page) so a caller's mistake shows"
        )

    def test_listed_rows_carry_submitted_at_and_belong_to_the_provider(
        self,
        kit_lister: VideoClient,
        kit_transport: FaultTransport,
        conformance_clock: Clock,
        conformance_request: VideoRequest,
    ) -> None:
        since, until = self._window(conformance_clock)
        self._submit_some(kit_lister, conformance_request, 2)
        rows = self._walk(kit_lister, kit_transport, since, until, False)
        assert rows, f"{self.provider} listed no task, though two were just submitted"
        for row in rows:
            assert row.provider == self.provider, (
                f"listed task {row.task_id} as a task of {row.provider!r}; rows must be "
                f"statuses of {self.provider!r}, as status returns them"
            )
            assert row.submitted_at is not None, (
                f"listed task {row.task_id} without submitted_at; give each row its "
                "creation time (the caller matches lost submits by it)"
            )
            assert row.submitted_at.tzinfo is not None and since <= row.submitted_at <= until, (
                f"listed task {row.task_id} created at {row.submitted_at}, outside the "
                f"window {since} .. {until} it was asked for"
            )

    def test_a_task_listed_terminal_is_terminal_on_status(
        self,
        kit_lister: VideoClient,
        kit_transport: FaultTransport,
        conformance_clock: Clock,
        conformance_request: VideoRequest,
    ) -> None:
        since, until = self._window(conformance_clock)
        (done,) = self._submit_some(kit_lister, conformance_request, 1)
        final = kit_lister.wait(done, timeout=LONG_WAIT)
        self._submit_some(kit_lister, conformance_request, 1)  # still running
        for finished in (True, False):
            rows = self._walk(kit_lister, kit_transport, since, until, finished)
            listed = {s.task_id: s for s in rows}
            assert done.task_id in listed, (
                f"the listing (finished={finished}) left out task {done.task_id}, which "
                f"status reports {final.state.value}"
            )
            for row in rows:
                if not row.state.is_terminal:
                    continue
                polled = kit_lister.status(row.task_id)
                assert polled.state is row.state, (
                    f"listed task {row.task_id} as {row.state.value} but status reports "
                    f"{polled.state.value}; a listing must agree with status: the client "
                    "fetches the final status of every task a listing says has finished"
                )
