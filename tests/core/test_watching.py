"""Status streams beside the poll scheduler (core/watching.py), on a virtual clock.

The streams here are in-process async generators fed by the test, so nothing runs in
real time: anyio's scheduling order alone decides what happens when.
"""

import random
from collections.abc import AsyncIterator

import anyio
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import ProviderUnavailable, RateLimited
from videoprovider.models import Task, TaskState, TaskStatus
from videoprovider.policy import AdaptivePolicy
from videoprovider.provider import single_attempt
from videoprovider.scheduler import PollScheduler
from videoprovider.watching import Watcher

pytestmark = pytest.mark.anyio


def _status(task_id: str, state: TaskState, **fields: object) -> TaskStatus:
    return TaskStatus(provider="p", task_id=task_id, state=state, **fields)  # type: ignore[arg-type]


class Stage:
    """A provider's stream and polls: the test says what the stream yields, and when."""

    def __init__(self, clock: VirtualClock, budget: float | None = 10.0) -> None:
        self.clock = clock
        policy = AdaptivePolicy(typical_seconds=60.0, jitter=0.0, rng=random.Random(1))
        self.scheduler = PollScheduler(clock, policy, budget)
        self.polls: list[str] = []
        self.closed: list[str] = []
        self.opened: list[str] = []
        self.feed: dict[str, list[TaskStatus | Exception]] = {}
        self.poll_state = TaskState.COMPLETED
        self.recorded: list[TaskStatus] = []  # what the journal was given

    def watcher(self, limit: int = 16) -> Watcher:
        return Watcher(self.scheduler, self.open, limit)

    def open(self, task_id: str) -> AsyncIterator[TaskStatus] | None:
        if task_id not in self.feed:
            return None
        return self._stream(task_id)

    async def _stream(self, task_id: str) -> AsyncIterator[TaskStatus]:
        assert single_attempt.get(), "a stream is opened once; retrying is polling's job"
        self.opened.append(task_id)
        try:
            for item in self.feed[task_id]:
                await anyio.sleep(0)
                if isinstance(item, Exception):
                    raise item
                yield item
            await anyio.sleep_forever()  # a stream that stays open, saying nothing more
        finally:
            self.closed.append(task_id)

    async def fetch(self, task: Task) -> TaskStatus:
        self.polls.append(task.task_id)
        return _status(task.task_id, self.poll_state, video_url="https://v.example/x.mp4")

    async def wait(self, watcher: Watcher, task: Task, seen: list[TaskState]) -> TaskStatus:
        async def on_change(status: TaskStatus, previous: TaskStatus | None) -> None:
            seen.append(status.state)

        return await watcher.wait(
            task,
            lambda: self.scheduler.wait(task, self.fetch, on_change, 3600.0),
            self.record,
        )

    async def record(self, task: Task, status: TaskStatus) -> TaskStatus:
        self.recorded.append(status)
        return status


async def test_a_stream_ends_the_wait_with_no_poll_and_is_closed() -> None:
    stage = Stage(VirtualClock())
    stage.feed["a"] = [
        _status("a", TaskState.PENDING, queue_position=2),
        _status("a", TaskState.PROCESSING),
        _status("a", TaskState.COMPLETED, video_url="https://v.example/a.mp4"),
    ]
    watcher = stage.watcher()
    seen: list[TaskState] = []
    final = await stage.wait(watcher, Task(provider="p", task_id="a"), seen)
    assert final.video_url == "https://v.example/a.mp4"
    assert seen == [TaskState.PENDING, TaskState.PROCESSING, TaskState.COMPLETED]
    assert stage.polls == [] and stage.closed == ["a"]
    assert [s.state for s in stage.recorded] == seen  # journaled as they came
    assert stage.scheduler.requests == 1  # the stream's opening, in the budget
    assert (watcher.open, watcher.fell_back) == (0, 0) and not stage.scheduler.streamed


@pytest.mark.parametrize(
    "fault",
    [ProviderUnavailable("cut"), RateLimited("slow", retry_after=7.0), ValueError("a bug")],
)
async def test_a_failing_stream_falls_back_to_an_immediate_poll(fault: Exception) -> None:
    clock = VirtualClock()
    stage = Stage(clock)
    stage.feed["a"] = [_status("a", TaskState.PENDING), fault]
    watcher = stage.watcher()
    seen: list[TaskState] = []
    final = await stage.wait(watcher, Task(provider="p", task_id="a"), seen)
    assert final.state is TaskState.COMPLETED
    assert stage.polls == ["a"]  # once, at once: not at the safety net's late schedule
    assert watcher.fell_back == 1 and watcher.open == 0
    retry_after = getattr(fault, "retry_after", None) or 0.0
    assert clock.monotonic() == pytest.approx(retry_after)  # a 429 pauses the poll too


async def test_a_stream_of_another_task_is_not_believed() -> None:
    stage = Stage(VirtualClock())
    stage.poll_state = TaskState.COMPLETED
    stage.feed["a"] = [_status("b", TaskState.FAILED)]
    seen: list[TaskState] = []
    final = await stage.wait(stage.watcher(), Task(provider="p", task_id="a"), seen)
    assert final.state is TaskState.COMPLETED and stage.polls == ["a"]


async def test_no_stream_when_the_provider_cannot_stream_this_task() -> None:
    stage = Stage(VirtualClock())
    watcher = stage.watcher()
    final = await stage.wait(watcher, Task(provider="p", task_id="a"), [])
    assert final.state is TaskState.COMPLETED and stage.polls == ["a"]
    assert watcher.fell_back == 1 and not stage.scheduler.streamed


@pytest.mark.parametrize(("budget", "limit"), [(1.0, 16), (None, 1)], ids=["budget", "cap"])
async def test_a_second_stream_waits_for_room_in_the_budget_and_under_the_cap(
    budget: float | None, limit: int
) -> None:
    stage = Stage(VirtualClock(), budget=budget)
    for task_id in ("a", "b"):
        stage.feed[task_id] = [_status(task_id, TaskState.PENDING)]
    watcher = stage.watcher(limit)
    ended: list[str] = []

    async def one(task_id: str) -> None:
        await stage.wait(watcher, Task(provider="p", task_id=task_id), [])
        ended.append(task_id)

    async with anyio.create_task_group() as group:
        group.start_soon(one, "a")
        group.start_soon(one, "b")
    assert stage.opened == ["a"]  # b found no room and was polled
    # a's stream said nothing more: its safety-net poll ended it, after b's polls.
    assert ended == ["b", "a"] and stage.closed == ["a"]
    assert watcher.opened == 1 and watcher.open == 0
