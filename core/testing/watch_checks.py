"""The conformance kit's checks of the optional status stream (`videoprovider_watch`).

`ProviderConformance` includes them. They apply to a provider that declares
`status_stream = True` and are skipped, saying so, for one that does not. A stream runs in
real time against the author's offline service while the kit's clock stands for the
service's time, so each check moves the clock itself and bounds in real seconds how long it
waits for the next status. Each failure names the rule it breaks (docs/writing-a-provider.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anyio
import pytest

from ..clock import Clock
from ..models import Task, TaskState, TaskStatus, VideoRequest
from ..plugins import load_provider_class
from ..provider import Declaration, single_attempt
from ..sync import VideoClient
from .faults import FaultTransport

__all__ = ["WatchChecks"]

LONG_WAIT = 7 * 24 * 3600.0
REAL_BOUND = 30.0  # real seconds for one status to arrive over loopback, on a loaded machine
_ORDER = {TaskState.PENDING: 0, TaskState.PROCESSING: 1}


def _open(client: VideoClient, task_id: str) -> AsyncIterator[TaskStatus] | None:
    hook = client.async_client._backends.main.pm.hook
    opened: AsyncIterator[TaskStatus] | None = hook.videoprovider_watch(task_id=task_id)
    return opened


async def _close(statuses: AsyncIterator[TaskStatus]) -> None:
    close = getattr(statuses, "aclose", None)
    if close is not None:
        await close()


class WatchChecks:
    """The status-stream rules; mixed into `ProviderConformance`, which gives the fixtures."""

    provider: ClassVar[str] = ""

    @pytest.fixture
    def kit_watched(self, kit_client: VideoClient) -> VideoClient:
        """The kit's client, for the checks of a provider that streams task statuses."""
        if not Declaration.of(load_provider_class(self.provider), self.provider).status_stream:
            pytest.skip(f"{self.provider} does not declare status_stream (optional)")
        return kit_client

    def _advance(self, clock: Clock) -> None:
        advance = getattr(clock, "advance", None)
        if advance is None:
            pytest.skip("the status-stream checks need a clock with advance(), e.g. VirtualClock")
        advance(LONG_WAIT)

    def test_a_status_stream_opens_with_one_request_and_follows_the_task_to_its_end(
        self,
        kit_watched: VideoClient,
        kit_transport: FaultTransport,
        conformance_clock: Clock,
        conformance_request: VideoRequest,
    ) -> None:
        task = kit_watched.submit(conformance_request)
        before = len(kit_transport.seen)

        async def follow() -> tuple[list[TaskStatus], int]:
            single_attempt.set(True)
            statuses = _open(kit_watched, task.task_id)
            assert statuses is not None, (
                f"{self.provider} declares status_stream but its videoprovider_watch "
                "returned None for a task it just accepted"
            )
            seen: list[TaskStatus] = []
            opening = 0
            try:
                with anyio.fail_after(REAL_BOUND):
                    async for status in statuses:
                        if not seen:
                            opening = len(kit_transport.seen) - before
                            self._advance(conformance_clock)  # let the task end
                        seen.append(status)
                        if status.is_terminal:
                            break
            finally:
                await _close(statuses)
            return seen, opening

        seen, opening = kit_watched._run(follow)
        assert opening == 1, (
            f"{self.provider}'s videoprovider_watch made {opening} requests to open one "
            "stream; make exactly one: the client counts each stream as one request against "
            "the account's budget"
        )
        self._check_followed(task, seen)
        polled = kit_watched.status(task)
        assert polled.state is seen[-1].state, (
            f"{self.provider}'s stream ended in {seen[-1].state.value} but a status poll says "
            f"{polled.state.value}: a terminal status on a stream must be one the provider "
            "vouches for as it would in a status reply"
        )

    def _check_followed(self, task: Task, seen: list[TaskStatus]) -> None:
        assert seen, f"{self.provider}'s status stream ended without a status"
        for status in seen:
            assert isinstance(status, TaskStatus) and (status.provider, status.task_id) == (
                task.provider,
                task.task_id,
            ), f"{self.provider}'s stream of {task.task_id} yielded {status!r}"
        ranks = [_ORDER.get(s.state, 2) for s in seen]
        assert ranks == sorted(ranks), (
            f"{self.provider}'s stream went backwards: {[s.state.value for s in seen]}"
        )
        last = seen[-1]
        assert last.is_terminal, (
            f"{self.provider}'s stream of a task that ended stopped at {last.state.value}; "
            "yield the terminal status (fetched as the status hook would), then stop"
        )
        if last.state is TaskState.COMPLETED:
            assert last.video_url, f"{self.provider}'s streamed completion has no video_url"

    def test_a_status_stream_closed_early_leaves_the_provider_usable(
        self, kit_watched: VideoClient, conformance_request: VideoRequest
    ) -> None:
        task = kit_watched.submit(conformance_request)

        async def first() -> Any:
            statuses = _open(kit_watched, task.task_id)
            assert statuses is not None
            try:
                with anyio.fail_after(REAL_BOUND):
                    return await statuses.__anext__()
            finally:
                await _close(statuses)

        status = kit_watched._run(first)
        assert isinstance(status, TaskStatus) and not status.is_terminal
        # Closing it released its connection: the provider still answers a poll.
        assert kit_watched.status(task).task_id == task.task_id
