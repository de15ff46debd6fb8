import random
from collections.abc import Awaitable, Callable

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import AuthenticationError, ProviderUnavailable, RateLimited, WaitTimeout
from videoprovider.models import Task, TaskState, TaskStatus
from videoprovider.polling import PollPolicy, poll_until_terminal

pytestmark = pytest.mark.anyio

TASK = Task(provider="p", task_id="t1")
NO_JITTER = PollPolicy(interval=2, max_interval=10, multiplier=2, jitter=0)


def st(state: TaskState, progress: int = -1) -> TaskStatus:
    return TaskStatus(provider="p", task_id="t1", state=state, progress=progress)


def script(*steps: TaskStatus | Exception) -> Callable[[], Awaitable[TaskStatus]]:
    items = list(steps)

    async def fetch() -> TaskStatus:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, Exception):
            raise item
        return item

    return fetch


async def run(
    fetch: Callable[[], Awaitable[TaskStatus]],
    clock: VirtualClock,
    policy: PollPolicy = NO_JITTER,
    timeout: float | None = 100,
    seen: list[tuple[TaskStatus, TaskStatus | None]] | None = None,
) -> TaskStatus:
    async def on_change(s: TaskStatus, prev: TaskStatus | None) -> None:
        if seen is not None:
            seen.append((s, prev))

    return await poll_until_terminal(
        fetch, task=TASK, clock=clock, policy=policy, timeout=timeout, on_change=on_change
    )


async def test_backs_off_while_unchanged_and_resets_on_state_change() -> None:
    clock = VirtualClock()
    p, r, c = st(TaskState.PENDING), st(TaskState.PROCESSING), st(TaskState.COMPLETED)
    final = await run(script(p, p, p, p, r, r, r, c), clock)
    assert final.state is TaskState.COMPLETED
    assert clock.sleeps == [2, 4, 8, 10, 2, 4, 8]


async def test_reports_each_change_once_with_previous() -> None:
    seen: list[tuple[TaskStatus, TaskStatus | None]] = []
    p, r30, r60 = st(TaskState.PENDING), st(TaskState.PROCESSING, 30), st(TaskState.PROCESSING, 60)
    await run(script(p, p, r30, r30, r60, st(TaskState.COMPLETED)), VirtualClock(), seen=seen)
    assert [(s.state, s.progress, prev.progress if prev else None) for s, prev in seen] == [
        (TaskState.PENDING, 10, None),
        (TaskState.PROCESSING, 30, 10),
        (TaskState.PROCESSING, 60, 30),
        (TaskState.COMPLETED, 100, 60),
    ]


@pytest.mark.parametrize("state", [TaskState.FAILED, TaskState.CANCELED, TaskState.UNKNOWN])
async def test_returns_other_terminal_states(state: TaskState) -> None:
    assert (await run(script(st(TaskState.PENDING), st(state)), VirtualClock())).state is state


async def test_first_poll_is_immediate() -> None:
    clock = VirtualClock()
    await run(script(st(TaskState.COMPLETED)), clock)
    assert clock.sleeps == []


async def test_timeout_raises_with_task_and_last_status() -> None:
    clock = VirtualClock()
    with pytest.raises(WaitTimeout) as info:
        await run(script(st(TaskState.PROCESSING)), clock, timeout=25)
    assert info.value.task is TASK
    assert info.value.last_status is not None
    assert info.value.last_status.state is TaskState.PROCESSING
    assert clock.monotonic() == pytest.approx(25)
    assert sum(clock.sleeps) == pytest.approx(25)


async def test_no_timeout_waits_as_long_as_it_takes() -> None:
    clock = VirtualClock()
    steps = [st(TaskState.PROCESSING)] * 1000 + [st(TaskState.COMPLETED)]
    assert (await run(script(*steps), clock, timeout=None)).state is TaskState.COMPLETED
    assert clock.monotonic() > 9000


async def test_retry_after_is_honoured() -> None:
    clock = VirtualClock()
    fetch = script(
        st(TaskState.PENDING), RateLimited("slow", retry_after=30), st(TaskState.COMPLETED)
    )
    await run(fetch, clock)
    assert clock.sleeps == [2, 30]


async def test_transient_errors_are_polled_through() -> None:
    clock = VirtualClock()
    fetch = script(ProviderUnavailable("503"), ProviderUnavailable("503"), st(TaskState.COMPLETED))
    assert (await run(fetch, clock)).state is TaskState.COMPLETED
    assert len(clock.sleeps) == 2


async def test_permanent_errors_stop_the_wait() -> None:
    with pytest.raises(AuthenticationError):
        await run(script(AuthenticationError("bad key")), VirtualClock())


async def test_jitter_only_shortens_delays_and_is_seedable() -> None:
    policy = PollPolicy(interval=2, max_interval=10, multiplier=2, jitter=0.5)
    sleeps = []
    for _ in range(2):
        clock = VirtualClock()

        async def on_change(s: TaskStatus, prev: TaskStatus | None) -> None:
            pass

        await poll_until_terminal(
            script(*[st(TaskState.PENDING)] * 6, st(TaskState.COMPLETED)),
            task=TASK,
            clock=clock,
            policy=policy,
            timeout=None,
            on_change=on_change,
            rng=random.Random(3),
        )
        sleeps.append(clock.sleeps)
    assert sleeps[0] == sleeps[1]
    for got, full in zip(sleeps[0], [2, 4, 8, 10, 10, 10], strict=True):
        assert full * 0.5 <= got <= full
