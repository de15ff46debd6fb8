"""Batch status: the scheduler learns from a provider's task listing which tasks finished."""

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import ProviderUnavailable, RateLimited, UnsupportedOperation
from videoprovider.models import Task, TaskPage, TaskState, TaskStatus, VideoRequest
from videoprovider.policy import AdaptivePolicy
from videoprovider.scheduler import PollScheduler
from videoprovider.sweeps import MAX_WINDOW, ListPage, Sweeper

pytestmark = pytest.mark.anyio
PAGE = 100  # rows a page of the listing holds, as DashScope's


class Service:
    """Tasks with fixed durations, a status endpoint and a paged listing filtered on
    creation time in the service's own clock (`skew` seconds ahead of the client's)."""

    def __init__(
        self,
        clock: VirtualClock,
        durations: dict[str, float],
        *,
        skew: float = 0.0,
        listing_delay: float = 0.0,
        hidden: frozenset[str] = frozenset(),
        strangers: int = 0,
    ) -> None:
        self.clock = clock
        self.durations = durations
        self.skew = timedelta(seconds=skew)
        self.listing_delay = listing_delay
        self.hidden = hidden  # never listed, as if the listing lost them
        self.created: dict[str, datetime] = {}  # service clock
        self.born: dict[str, float] = {}
        self.requests: list[tuple[float, str]] = []  # (time, "status:<id>" or "list")
        for i in range(strangers):  # another program's tasks on the same account
            self.start(f"other-{i}", 1.0)

    def start(self, name: str, duration: float | None = None) -> Task:
        if duration is not None:
            self.durations[name] = duration
        self.created[name] = self.clock.now() + self.skew
        self.born[name] = self.clock.monotonic()
        return Task(
            provider="p",
            task_id=name,
            request=VideoRequest(prompt="x", model="m"),
            submitted_at=self.clock.now(),
        )

    def done_at(self, name: str) -> float:
        return self.born[name] + self.durations[name]

    def state(self, name: str, delay: float = 0.0) -> TaskState:
        done = self.clock.monotonic() >= self.done_at(name) + delay
        return TaskState.COMPLETED if done else TaskState.PROCESSING

    async def fetch(self, task: Task) -> TaskStatus:
        self.requests.append((self.clock.monotonic(), f"status:{task.task_id}"))
        name = task.task_id
        return TaskStatus(
            provider="p",
            task_id=name,
            state=self.state(name),
            submitted_at=self.created[name],
            video_url="https://v.example/x.mp4" if self.state(name).is_terminal else None,
        )

    async def list_page(
        self, since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
    ) -> TaskPage:
        self.requests.append((self.clock.monotonic(), "list"))
        assert until - since <= timedelta(hours=24)
        rows = [
            TaskStatus(
                provider="p",
                task_id=name,
                state=self.state(name, self.listing_delay),
                submitted_at=created,
            )
            for name, created in self.created.items()
            if since <= created <= until and name not in self.hidden
        ]
        if finished:
            rows = [r for r in rows if r.is_terminal]
        start = int(page or 0)
        more = start + PAGE < len(rows)
        return TaskPage(
            statuses=rows[start : start + PAGE], next_page=str(start + PAGE) if more else None
        )

    def count(self, kind: str) -> int:
        return sum(1 for _, what in self.requests if what.startswith(kind))


def scheduler(clock: VirtualClock, service: Service, budget: float = 20.0) -> PollScheduler:
    policy = AdaptivePolicy(
        typical_seconds=120.0,
        min_interval=2.0,
        max_interval=15.0,
        lag_ratio=0.1,
        jitter=0.0,
        rng=random.Random(1),
    )
    made = PollScheduler(clock, policy, budget)
    made.use_listing(service.list_page)
    return made


async def nothing(status: TaskStatus, previous: TaskStatus | None) -> None:
    pass


@dataclass
class Run:
    ended: dict[str, float]  # name -> when its wait returned
    results: dict[str, TaskStatus]

    def lags(self, service: Service) -> list[float]:
        return [self.ended[n] - service.done_at(n) for n in self.ended]


async def wait_all(
    sched: PollScheduler, service: Service, durations: dict[str, float], spread: float = 0.0
) -> Run:
    """Submit every task (`spread` seconds apart) and wait on all of them."""
    run = Run({}, {})

    async def one(task: Task) -> None:
        run.results[task.task_id] = await sched.wait(task, service.fetch, nothing, None)
        run.ended[task.task_id] = service.clock.monotonic()

    async with anyio.create_task_group() as group:
        for name, duration in durations.items():
            group.start_soon(one, service.start(name, duration))
            if spread:
                await service.clock.sleep(spread)
    return run


def durations(n: int, median: float, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"t{i}": median * math.exp(rng.gauss(0, 0.5)) for i in range(n)}


def busiest_second(times: list[float]) -> int:
    """The most requests sent in any one-second window (requests start instantly here)."""
    times, most, first = sorted(times), 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def test_many_tasks_cost_about_one_status_request_each() -> None:
    clock = VirtualClock()
    service = Service(clock, {})
    plan = durations(300, median=60.0)
    sched = scheduler(clock, service)
    run = await wait_all(sched, service, plan, spread=0.05)
    assert all(r.state is TaskState.COMPLETED for r in run.results.values())
    statuses, pages = service.count("status:"), service.count("list")
    # One each at its end; the last few, far apart, are polled (cheaper than a listing).
    assert statuses <= 1.3 * len(plan)
    assert (statuses + pages) / len(plan) <= 1.8
    lags = run.lags(service)
    assert p95(lags) <= 0.1 * statistics.median(plan.values()) + 3.0
    assert sched.requests == statuses + pages
    # Status requests and pages together never exceed the budget in any second.
    assert busiest_second([t for t, _ in service.requests]) <= 20


async def test_without_the_listing_the_same_tasks_cost_several_polls_each() -> None:
    # The baseline the test above improves on: the assertion there is not vacuous.
    clock = VirtualClock()
    service = Service(clock, {})
    plan = durations(300, median=60.0)
    sched = scheduler(clock, service)
    sched.sweeper = None
    await wait_all(sched, service, plan, spread=0.05)
    assert service.count("status:") > 3.5 * len(plan) and service.count("list") == 0


async def test_a_listing_alone_never_ends_a_wait() -> None:
    clock = VirtualClock()
    service = Service(clock, {})
    wrong = Service(clock, {})  # a listing that says finished too early

    async def early_listing(*args: object) -> TaskPage:
        page = await service.list_page(*args)  # type: ignore[arg-type]
        rows = [r.model_copy(update={"state": TaskState.COMPLETED}) for r in page.statuses]
        return page.model_copy(update={"statuses": rows})

    sched = scheduler(clock, wrong)
    sched.use_listing(early_listing)
    run = await wait_all(sched, service, durations(20, median=60.0, seed=3))
    for name, ended in run.ended.items():
        assert ended >= service.done_at(name)  # ended by a status saying so, not the listing
        assert run.results[name].video_url is not None


async def test_a_task_the_listing_misses_is_still_found_by_the_safety_net() -> None:
    clock = VirtualClock()
    plan = durations(40, median=30.0, seed=5)
    service = Service(clock, {}, hidden=frozenset({"t3", "t17"}))
    run = await wait_all(scheduler(clock, service), service, plan)
    assert set(run.results) == set(plan)  # none missed
    lags = dict(zip(run.ended, run.lags(service), strict=True))
    assert max(lags["t3"], lags["t17"]) <= 600  # the slow safety net, not never
    listed = [lag for name, lag in lags.items() if name not in ("t3", "t17")]
    assert p95(listed) <= 0.1 * 30 * 2 + 3


async def test_a_late_listing_delays_but_loses_nothing() -> None:
    clock = VirtualClock()
    service = Service(clock, {}, listing_delay=20.0)
    run = await wait_all(scheduler(clock, service), service, durations(40, 30.0, seed=9))
    assert len(run.results) == 40
    assert min(run.lags(service)) >= 0 and statistics.median(run.lags(service)) <= 20 + 5


@pytest.mark.parametrize("skew", [0.0, -7.0, 8 * 3600.0])
async def test_windows_follow_the_service_clock_whatever_its_offset(skew: float) -> None:
    # 8 hours: a provider that read the service's local times in the wrong time zone.
    clock = VirtualClock()
    service = Service(clock, {}, skew=skew)
    sched = scheduler(clock, service)
    plan = durations(100, 40.0, seed=11)
    run = await wait_all(sched, service, plan, spread=0.1)
    assert p95(run.lags(service)) <= 0.1 * 40 * 2 + 3
    assert service.count("status:") <= 1.15 * len(plan)
    assert sched.sweeper is not None and sched.sweeper.skew.offset == pytest.approx(skew, abs=0.01)


async def test_another_programs_tasks_are_listed_but_never_fetched() -> None:
    clock = VirtualClock()
    service = Service(clock, {}, strangers=25)
    await wait_all(scheduler(clock, service), service, durations(30, 20.0))
    assert not any(what.startswith("status:other-") for _, what in service.requests)


async def test_a_single_task_is_polled_not_listed() -> None:
    clock = VirtualClock()
    service = Service(clock, {})
    await wait_all(scheduler(clock, service), service, {"only": 45.0})
    assert service.count("list") == 0 and service.count("status:") >= 1


async def test_an_account_that_cannot_list_falls_back_to_polling_each_task() -> None:
    clock = VirtualClock()
    service = Service(clock, {})

    async def refused(*args: object) -> TaskPage:
        service.requests.append((clock.monotonic(), "list"))
        raise UnsupportedOperation("listing is not enabled for this key")

    sched = scheduler(clock, service)
    sched.use_listing(refused)
    run = await wait_all(sched, service, durations(30, 20.0))
    assert len(run.results) == 30 and service.count("list") == 1
    assert max(run.lags(service)) <= 0.1 * max(run.ended.values()) + 15


async def test_cold_start_spends_the_budget_to_see_short_tasks_early() -> None:
    # A fresh scheduler whose prior says two minutes, on tasks of about five seconds.
    clock = VirtualClock()
    service = Service(clock, {})
    run = await wait_all(scheduler(clock, service), service, durations(100, 5.0, seed=2))
    assert p95(run.lags(service)) <= 3.0


def planner() -> Sweeper:
    async def unused(*args: object) -> TaskPage:
        raise AssertionError("planning sends nothing")

    return Sweeper(PollScheduler(VirtualClock(), AdaptivePolicy(), 20.0), unused)


def test_windows_never_span_more_than_a_day() -> None:
    sweeper = planner()
    base = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    tasks = [Fake(created=base + h * 3600.0) for h in range(0, 48, 2)]
    windows = sweeper.plan(tasks, 0.0).windows
    assert len(windows) >= 2
    assert all(w.until - w.since <= MAX_WINDOW + timedelta(minutes=10) for w in windows)
    assert sum(w.unfinished for w in windows) == len(tasks)


def test_a_window_is_split_where_many_finished_tasks_lie_between() -> None:
    sweeper = planner()
    sweeper.rows_per_page, sweeper.least_per_window = 10, 2
    for i in range(50):
        sweeper.ended(1000.0 + i)  # fifty tasks created between 1000 and 1050 have ended
    early = [Fake(created=990.0 + i) for i in range(5)]
    late = [Fake(created=1060.0 + i) for i in range(5)]
    windows = sweeper.plan(early + late, 0.0).windows
    assert [w.unfinished for w in windows] == [5, 5]
    sweeper.rows_per_page = 100  # fifty finished rows fit a page: one window is cheaper
    assert [w.unfinished for w in sweeper.plan(early + late, 0.0).windows] == [10]


def test_groups_too_small_for_a_listing_are_polled_one_by_one() -> None:
    sweeper = planner()
    lone = Fake(created=0.0, swept=True)
    pair = [Fake(created=100_000.0, swept=True), Fake(created=100_001.0)]
    many = [Fake(created=200_000.0 + i) for i in range(5)]
    plan = sweeper.plan([lone, *pair, *many], 100.0)
    # A poll each is cheaper than a listing; a task on the ordinary schedule keeps it.
    assert plan.poll == [lone, pair[0]] and plan.swept == [lone, pair[0], *many]
    assert [w.unfinished for w in plan.windows] == [5]


def test_only_tasks_due_for_a_look_are_listed() -> None:
    sweeper = planner()
    sweeper.policy.observe("m", 90.0)  # not learned yet: looks at a tenth of each age
    old = [Fake(created=float(i), swept=True, look_at=1040.0) for i in range(5)]
    young = [Fake(created=1000.0 + i, swept=True, born=990.0) for i in range(5)]
    plan = sweeper.plan(old + young, 1000.0)
    assert plan.swept == young  # the old ones are looked at every 60 s; 40 s remain
    assert all(t.look_at == pytest.approx(1001.0) for t in young)  # 10% of 10 s, at least 1 s


@dataclass(eq=False)
class Fake:
    created: float | None
    born: float = 0.0
    swept: bool = False
    look_at: float = 0.0
    model: str | None = "m"


def test_what_ended_more_than_two_days_before_is_forgotten() -> None:
    sweeper = planner()
    for day in range(5):
        sweeper.ended(day * 86400.0)
    assert sweeper.finished == [2 * 86400.0, 3 * 86400.0, 4 * 86400.0]


def failing_listing(service: Service, fail: Callable[[int], Exception | None]) -> ListPage:
    """The service's listing, but page request `n` (0-based) raises `fail(n)` when not None."""
    calls = 0

    async def list_page(*args: Any) -> TaskPage:
        nonlocal calls
        calls += 1
        exc = fail(calls - 1)
        if exc is None:
            return await service.list_page(*args)
        service.requests.append((service.clock.monotonic(), "list-failed"))
        raise exc

    return list_page


async def with_failing_listing(
    fail: Callable[[int], Exception | None], median: float
) -> tuple[Service, PollScheduler, Run]:
    """Thirty tasks waited on while listing page `n` raises `fail(n)` (None: it works)."""
    clock = VirtualClock()
    service = Service(clock, {})
    sched = scheduler(clock, service)
    sched.use_listing(failing_listing(service, fail))
    run = await wait_all(sched, service, durations(30, median))
    assert len(run.results) == 30
    assert all(s.state is TaskState.COMPLETED for s in run.results.values())
    return service, sched, run


async def test_a_throttled_listing_page_waits_its_retry_after_and_loses_nothing() -> None:
    throttled = RateLimited("429 Too Many Requests", retry_after=30.0)
    service, _, _ = await with_failing_listing(lambda n: throttled if n < 2 else None, 40.0)
    failed = [t for t, what in service.requests if what == "list-failed"]
    assert len(failed) == 2 and failed[1] - failed[0] >= 30.0
    # The retry-after holds the account: no request of any kind in the 30 s after a 429.
    for when in failed:
        assert not [t for t, _ in service.requests if when < t < when + 30.0]
    assert service.count("list") > 2  # the listing is used again once the throttle passes


async def test_a_listing_that_keeps_failing_with_5xx_falls_back_to_polling_each_task() -> None:
    # Not to the safety net alone, whose polls come minutes apart.
    unavailable = ProviderUnavailable("HTTP 503")
    service, _, run = await with_failing_listing(lambda n: unavailable, 20.0)
    assert service.count("list-failed") >= 5
    assert max(run.lags(service)) <= 0.1 * max(run.ended.values()) + 60


async def test_a_listing_that_raises_a_bug_falls_back_to_polling_each_task() -> None:
    service, sched, run = await with_failing_listing(lambda n: KeyError("next_token"), 20.0)
    assert service.count("list-failed") == 1
    assert sched.sweeper is not None and not sched.sweeper.enabled
    assert max(run.lags(service)) <= 0.1 * max(run.ended.values()) + 15


async def test_a_failing_listing_is_logged_in_whole_sentences(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="videoprovider.scheduler")
    await with_failing_listing(lambda n: ProviderUnavailable("HTTP 503"), 20.0)
    said = [r.getMessage() for r in caplog.records if "Listing tasks failed" in r.getMessage()]
    assert said and all("HTTP 503. Skipping this sweep." in m for m in said)
