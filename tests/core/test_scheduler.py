"""The shared poll scheduler's guarantees, on a virtual clock."""

import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from videoprovider.backoff import MAX_RETRY_AFTER
from videoprovider.clock import VirtualClock
from videoprovider.errors import AuthenticationError, ProtocolError, RateLimited, WaitTimeout
from videoprovider.journal import SQLiteJournal
from videoprovider.journal.workers import AccountShare
from videoprovider.models import Task, TaskState, TaskStatus, VideoRequest
from videoprovider.policy import AdaptivePolicy
from videoprovider.provider import single_attempt
from videoprovider.scheduler import MAX_GARBLED_POLLS, PollScheduler

pytestmark = pytest.mark.anyio


class World:
    """Tasks that finish after fixed durations; records every poll."""

    def __init__(self, clock: VirtualClock, durations: dict[str, float]) -> None:
        self.clock = clock
        self.durations = durations
        self.polls: list[tuple[float, str]] = []
        self.throttle: dict[int, float] = {}  # poll number -> retry_after

    async def fetch(self, task: Task) -> TaskStatus:
        assert single_attempt.get(), "the scheduler retries; providers must try once"
        now = self.clock.monotonic()
        self.polls.append((now, task.task_id))
        if len(self.polls) in self.throttle:
            raise RateLimited("slow down", retry_after=self.throttle[len(self.polls)])
        done = now >= self.durations[task.task_id]
        return TaskStatus(
            provider="p",
            task_id=task.task_id,
            state=TaskState.COMPLETED if done else TaskState.PROCESSING,
        )


def make(clock: VirtualClock, budget: float | None = None, **policy: float) -> PollScheduler:
    settings = {
        "typical_seconds": 60.0,
        "min_interval": 1.0,
        "max_interval": 15.0,
        "lag_ratio": 0.1,
        "jitter": 0.0,
        **policy,
    }
    return PollScheduler(clock, AdaptivePolicy(rng=random.Random(1), **settings), budget)


def task(name: str, clock: VirtualClock) -> Task:
    return Task(
        provider="p",
        task_id=name,
        request=VideoRequest(prompt="x", model="m"),
        submitted_at=clock.now(),
    )


async def nothing(status: TaskStatus, previous: TaskStatus | None) -> None:
    pass


async def run_all(
    scheduler: PollScheduler, world: World, clock: VirtualClock, timeout: float | None = None
) -> dict[str, TaskStatus | BaseException]:
    results: dict[str, TaskStatus | BaseException] = {}

    async def one(name: str) -> None:
        try:
            results[name] = await scheduler.wait(task(name, clock), world.fetch, nothing, timeout)
        except Exception as exc:
            results[name] = exc

    async with anyio.create_task_group() as group:
        for name in world.durations:
            group.start_soon(one, name)
    return results


async def test_budget_is_never_exceeded_in_any_second() -> None:
    clock = VirtualClock()
    rng = random.Random(5)
    world = World(clock, {f"t{i}": rng.lognormvariate(4.5, 0.5) for i in range(300)})
    results = await run_all(make(clock, budget=20), world, clock)
    assert all(
        isinstance(r, TaskStatus) and r.state is TaskState.COMPLETED for r in results.values()
    )
    times = sorted(t for t, _ in world.polls)
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i : i + 25] if t < start + 1.0)
        assert in_window <= 20, f"{in_window} polls in the second from {start}"


class EventClock(VirtualClock):
    """Discrete-event time: `sleep(s)` wakes at now + s, and time jumps to the next wake-up
    once everything runnable has run, so concurrent sleeps overlap as in real time."""

    def __init__(self) -> None:
        super().__init__()
        self._wakeups: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    async def sleep(self, seconds: float) -> None:
        wake = anyio.Event()
        at = self.monotonic() + max(0.0, seconds)
        heapq.heappush(self._wakeups, (at, next(self._seq), wake))
        await wake.wait()

    async def run(self) -> None:
        while True:
            for _ in range(50):  # let everything runnable reach its next wait
                await anyio.sleep(0)
            if not self._wakeups:
                continue
            at, _, wake = heapq.heappop(self._wakeups)
            self.advance(max(0.0, at - self.monotonic()))
            wake.set()


async def test_budget_holds_at_the_server_however_the_network_delays_requests() -> None:
    # A request reaches the server somewhere between its start and its return. Counting
    # starts alone lets requests slow on the way out bunch up with the next second's fast
    # ones: this world makes exactly that happen.
    clock = EventClock()
    rng = random.Random(9)
    world = World(clock, {f"t{i}": rng.uniform(20, 60) for i in range(100)})
    arrivals: list[float] = []
    answer = world.fetch

    async def fetch(task: Task) -> TaskStatus:
        await clock.sleep(rng.choice([0.05, 0.95]))  # on the way to the server
        arrivals.append(clock.monotonic())
        status = await answer(task)
        await clock.sleep(0.05)  # and back
        return status

    world.fetch = fetch  # type: ignore[method-assign]
    scheduler = make(clock, budget=10, min_interval=0.5)
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        results = await run_all(scheduler, world, clock)
        group.cancel_scope.cancel()
    assert all(isinstance(r, TaskStatus) for r in results.values())
    arrivals.sort()
    assert len(arrivals) == scheduler.requests > 200
    worst = max(
        sum(1 for t in arrivals[i : i + 30] if t < start + 1.0) for i, start in enumerate(arrivals)
    )
    assert worst <= 10


async def test_every_task_is_polled_at_least_every_max_interval() -> None:
    clock = VirtualClock()
    world = World(clock, {f"t{i}": 400.0 + i for i in range(20)})
    await run_all(make(clock, max_interval=15.0), world, clock)
    by_task: dict[str, list[float]] = {}
    for t, name in world.polls:
        by_task.setdefault(name, []).append(t)
    for times in by_task.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert times[0] <= 15.0 + 1e-6 and max(gaps) <= 15.0 + 1e-6


async def test_detection_lag_and_request_count_follow_the_lag_ratio() -> None:
    clock = VirtualClock()
    world = World(clock, {"t": 100.0})
    scheduler = make(clock, typical_seconds=100.0, min_interval=0.5, max_interval=60.0)
    await run_all(scheduler, world, clock)
    last = world.polls[-1][0]
    assert 100.0 <= last <= 110.0 + 1e-6  # seen within 10% of its duration
    # One poll at the earliest likely end, then one per 10% of age: not one per second.
    geometric = math.ceil(math.log(100.0 / scheduler.policy.earliest("m")) / math.log(1.1))
    assert len(world.polls) <= geometric + 2


async def test_retry_after_pauses_every_poll() -> None:
    clock = VirtualClock()
    world = World(clock, {f"t{i}": 30.0 for i in range(5)})
    world.throttle = {3: 40.0}
    await run_all(make(clock, typical_seconds=20.0), world, clock)
    throttled_at = world.polls[2][0]
    later = [t for t, _ in world.polls[3:] if t > throttled_at]
    assert later and min(later) >= throttled_at + 40.0 - 1e-6


async def test_a_day_long_retry_after_is_capped_at_five_minutes() -> None:
    clock = VirtualClock()
    world = World(clock, {f"t{i}": 30.0 for i in range(3)})
    world.throttle = {2: 86_400.0}
    await run_all(make(clock, typical_seconds=20.0), world, clock)
    throttled_at = world.polls[1][0]
    resumed_at = min(t for t, _ in world.polls[2:] if t > throttled_at)
    assert throttled_at + MAX_RETRY_AFTER - 1e-6 <= resumed_at <= throttled_at + MAX_RETRY_AFTER + 1


async def test_when_over_budget_the_likeliest_finished_go_first() -> None:
    clock = VirtualClock()
    # Eleven tasks due at once, one poll allowed per second: the old task (likely finished)
    # is polled before the young ones (unlikely to be).
    durations = {"old": 0.0, **{f"young{i}": 10_000.0 for i in range(10)}}
    world = World(clock, durations)
    scheduler = make(clock, budget=1, typical_seconds=0.01, sigma=1.0)
    old = Task(
        provider="p",
        task_id="old",
        request=VideoRequest(prompt="x", model="m"),
        submitted_at=clock.now() - timedelta(seconds=199),
    )
    clock.advance(1)

    async def main() -> TaskStatus:
        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(
                    scheduler.wait, task(f"young{i}", clock), world.fetch, nothing, 30.0
                )
            result = await scheduler.wait(old, world.fetch, nothing, 30.0)
            group.cancel_scope.cancel()
        return result

    assert (await main()).state is TaskState.COMPLETED
    assert next(name for _, name in world.polls) == "old"


async def test_timeouts_end_each_wait_with_its_task() -> None:
    clock = VirtualClock()
    world = World(clock, {"slow": 10_000.0, "fast": 5.0})
    results = await run_all(make(clock, typical_seconds=5.0), world, clock, timeout=120)
    assert isinstance(results["fast"], TaskStatus)
    err = results["slow"]
    assert isinstance(err, WaitTimeout) and err.task.task_id == "slow"
    assert clock.monotonic() == pytest.approx(120)


async def test_a_permanent_error_ends_only_that_wait() -> None:
    clock = VirtualClock()
    world = World(clock, {"a": 5.0, "b": 5.0})
    original = world.fetch

    async def fetch(task: Task) -> TaskStatus:
        if task.task_id == "a":
            raise AuthenticationError("bad key")
        return await original(task)

    world.fetch = fetch  # type: ignore[method-assign]
    results = await run_all(make(clock, typical_seconds=5.0), world, clock)
    assert isinstance(results["a"], AuthenticationError)
    assert isinstance(results["b"], TaskStatus)


async def test_a_few_garbled_replies_are_retried_but_a_garbled_protocol_ends_the_wait() -> None:
    clock = VirtualClock()
    world = World(clock, {"flaky": 5.0, "broken": 5.0})
    original = world.fetch
    garbled = Counter[str]()

    async def fetch(task: Task) -> TaskStatus:
        if task.task_id == "broken" or garbled[task.task_id] < 2:
            garbled[task.task_id] += 1
            raise ProtocolError("not JSON")
        return await original(task)

    world.fetch = fetch  # type: ignore[method-assign]
    results = await run_all(make(clock, typical_seconds=5.0), world, clock)
    assert isinstance(results["flaky"], TaskStatus)
    assert isinstance(results["broken"], ProtocolError)
    assert garbled["broken"] == MAX_GARBLED_POLLS + 1


async def test_learns_durations_and_polls_less_for_later_tasks() -> None:
    clock = VirtualClock()
    scheduler = make(clock, typical_seconds=10.0, min_interval=0.5, max_interval=60.0)
    first = World(clock, {f"a{i}": 300.0 for i in range(10)})
    await run_all(scheduler, first, clock)
    second = World(clock, {f"b{i}": 300.0 for i in range(10)})
    start = clock.monotonic()
    second.durations = {k: start + 300.0 for k in second.durations}
    await run_all(scheduler, second, clock)
    per_task_first = Counter(n for _, n in first.polls)
    per_task_second = Counter(n for _, n in second.polls)
    assert max(per_task_second.values()) < min(per_task_first.values())


async def test_requests_counter() -> None:
    clock = VirtualClock()
    world = World(clock, {"t": 20.0})
    scheduler = make(clock)
    await run_all(scheduler, world, clock)
    assert scheduler.requests == len(world.polls)


async def test_a_push_ends_a_wait_and_one_before_the_wait_spares_its_polls() -> None:
    clock = VirtualClock()
    world = World(clock, {"early": 10_000.0, "late": 10_000.0})
    scheduler = make(clock, typical_seconds=5.0)
    done = TaskStatus(provider="p", task_id="early", state=TaskState.COMPLETED)
    assert await scheduler.deliver(done) is False  # nobody waits on it yet
    changes: list[str] = []

    async def on_change(status: TaskStatus, previous: TaskStatus | None) -> None:
        changes.append(status.state.value)

    assert (await scheduler.wait(task("early", clock), world.fetch, on_change, 60)) == done
    assert world.polls == [] and changes == ["COMPLETED"]
    result: dict[str, TaskStatus] = {}

    async def wait_late() -> None:
        result["late"] = await scheduler.wait(task("late", clock), world.fetch, on_change, None)

    async with anyio.create_task_group() as group:
        group.start_soon(wait_late)
        while not world.polls:  # the wait has started polling
            await anyio.sleep(0)
        late = TaskStatus(provider="p", task_id="late", state=TaskState.FAILED)
        polled = len(world.polls)
        assert await scheduler.deliver(late) is True
    assert result["late"] == late and len(world.polls) == polled  # no poll after the push


async def inline(call: Callable[[], None]) -> None:
    call()


async def test_workers_sharing_a_journal_share_one_budget(tmp_path: Path) -> None:
    # Two workers on one account and one journal, the second joining while the first polls
    # at the whole budget: at the server, no second ever sees more than the account's 10.
    clock = EventClock()
    rng = random.Random(3)
    journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    arrivals: list[tuple[float, str]] = []

    def world(worker: str) -> World:
        w = World(clock, {f"{worker}{i}": rng.uniform(60, 120) for i in range(150)})
        answer = w.fetch

        async def fetch(task: Task) -> TaskStatus:
            await clock.sleep(0.05)
            arrivals.append((clock.monotonic(), worker))
            return await answer(task)

        w.fetch = fetch  # type: ignore[method-assign]
        return w

    def scheduler(worker: str) -> PollScheduler:
        s = make(clock, budget=10, min_interval=0.5)
        # Beats inline: a worker thread's beat would let the EventClock jump ahead while it
        # runs, and the shares this test counts would depend on thread timing.
        s.share = AccountShare(journal, "fake", worker, clock, offload=inline)
        return s

    results: list[dict[str, TaskStatus | BaseException]] = []

    async def worker(name: str, joins: float) -> None:
        await clock.sleep(joins)
        results.append(await run_all(scheduler(name), world(name), clock))

    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with anyio.create_task_group() as workers:
            workers.start_soon(worker, "a", 0.0)
            workers.start_soon(worker, "b", 30.0)
        group.cancel_scope.cancel()
    journal.close()
    assert all(isinstance(r, TaskStatus) for done in results for r in done.values())
    times = sorted(t for t, _ in arrivals)
    worst = max(
        sum(1 for t in times[i : i + 30] if t < start + 1.0) for i, start in enumerate(times)
    )
    assert worst <= 10
    # Alone, a worker takes the whole budget; together, about half each.
    alone = [t for t, w in arrivals if 20.0 <= t < 30.0]
    assert len(alone) >= 10 * 9
    both = Counter(w for t, w in arrivals if 60.0 <= t < 70.0)
    assert 45 <= both["a"] <= 50 and 45 <= both["b"] <= 50


async def test_a_worker_with_no_share_yet_polls_nothing() -> None:
    clock = VirtualClock()
    world = World(clock, {"t": 5.0})
    scheduler = make(clock, budget=10)
    opens = 30.0

    class Opens:
        def __call__(self, budget: float) -> float:
            return budget if clock.monotonic() >= opens else 0.0

        async def refresh(self) -> None:
            pass

    scheduler.share = Opens()
    await run_all(scheduler, world, clock)
    assert world.polls and world.polls[0][0] >= opens


async def test_a_task_said_finished_is_fetched_at_once_ahead_of_the_others() -> None:
    clock = VirtualClock()
    world = World(clock, {"a": 30.0, **{f"t{i}": 300.0 for i in range(40)}})
    scheduler = make(clock, budget=2.0, typical_seconds=600.0)
    assert scheduler.confirm("p", "later") is False  # nobody waits on it yet: kept for later
    results: dict[str, TaskStatus] = {}

    async def one(name: str) -> None:
        results[name] = await scheduler.wait(task(name, clock), world.fetch, nothing, None)

    async with anyio.create_task_group() as group:
        for name in world.durations:
            group.start_soon(one, name)
        while clock.monotonic() < 31.0:  # "a" has finished; nothing would poll it soon
            await clock.sleep(1.0)
        polled, said = len(world.polls), clock.monotonic()
        assert scheduler.confirm("p", "a") is True
        while "a" not in results:
            await clock.sleep(0.01)
        # The next request that fit the budget (2 a second) was the one that found it.
        when, name = world.polls[polled]
        assert name == "a" and said <= when <= said + 1.05
        assert results["a"].state is TaskState.COMPLETED
    hinted = World(clock, {"later": 0.0})
    start = clock.monotonic()
    done = await scheduler.wait(task("later", clock), hinted.fetch, nothing, None)
    assert done.state is TaskState.COMPLETED and len(hinted.polls) == 1
    assert hinted.polls[0][0] <= start + 1.05  # the first free slot, not the policy's 15 s
