"""Batch status: learning from the provider's task listing which tasks have finished.

Polling costs one request per task per look, so under an account's budget (DashScope: 20 a
second) ten thousand tasks can each be looked at only every few minutes. A provider that
lists its tasks (`videoprovider_list_tasks`) reports a page of them in one request. When a
client waits on several tasks, its scheduler *sweeps* that listing: it lists the tasks that
finished, fetches each of those once (its final status, with the video URL), and polls the
others only as a slow safety net, for a listing that is late, incomplete or wrong. A task
then costs about one request at its end, plus its share of the sweeps. This module plans
the sweeps; the scheduler runs them inside the same budget as every poll.

* **Windows.** The listing filters on when tasks were created, in the service's clock. The
  tasks still unfinished are grouped by creation time into windows (at most a day long, the
  longest the service accepts), split where many tasks that already finished lie between two
  unfinished ones: those would fill pages for nothing. A group too small to be worth a
  listing (one request per task polled is cheaper) is polled task by task instead.
* **Clock skew.** Windows are in the service's clock, which is not the client's. The offset
  is learned from the creation time the service reports for tasks this client submitted,
  and each window is widened by a margin that covers what is still unknown about it.
  Before anything is known, one task is polled at once to learn it.
* **Pace.** A task finishing at age `d` should be seen about `lag_ratio * d` late, so the
  next sweep comes after `lag_ratio` times the age of the youngest task that could be
  finishing: often while tasks are young, rarely when all are old. Until the scheduler has
  seen how long a model's tasks take, every task counts as possibly finishing: the budget
  is spent early to learn durations. No sweep while the tasks already known finished take
  all the budget until the next one would come.
"""

from __future__ import annotations

import logging
import math
import statistics
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio

from .backoff import cap_retry_after
from .errors import ProtocolError, VideoProviderError
from .models import TaskPage
from .provider import single_attempt

if TYPE_CHECKING:
    from .scheduler import PollScheduler

__all__ = ["MAX_WINDOW", "ListPage", "Sweeper", "Window"]

log = logging.getLogger("videoprovider.scheduler")
# (since, until, model, finished, page) -> one page of the provider's listing, one request
ListPage = Callable[[datetime, datetime, "str | None", bool, "str | None"], Awaitable[TaskPage]]

MAX_WINDOW = timedelta(hours=23)  # the service allows 24 h; room for the margins
UNKNOWN_SKEW_MARGIN = 120.0  # seconds each side while the offset is not known at all
MARGIN = 10.0  # seconds each side once known: the submit's own round trip, rounding
SKEW_SAMPLES = 64
FIRST_ROWS_PER_PAGE = 100  # a guess at the page size until a full page is seen
SWEEP_SHARE = 0.25  # of the budget, at most, that sweeps of many pages may take
MAX_SWEEP_ERRORS = 5  # consecutive failed pages before a sweep is given up until the next


class Swept(Protocol):
    """What planning needs to know of a task the scheduler tracks."""

    created: float | None  # client wall time of the submit, seconds since the epoch
    born: float  # client monotonic time of the submit
    swept: bool

    @property
    def model(self) -> str | None: ...


@dataclass(frozen=True)
class Window:
    """One listing to walk: tasks created between `since` and `until` (service clock)."""

    since: datetime
    until: datetime
    model: str | None
    unfinished: int


S = TypeVar("S", bound=Swept)


@dataclass
class Plan(Generic[S]):
    windows: list[Window]
    one_by_one: list[S]  # in groups too small for a listing
    swept: list[S]


@dataclass
class Skew:
    """The service clock's offset from the client's, from creation times it reported."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=SKEW_SAMPLES))

    def add(self, service: datetime, client: datetime) -> None:
        self.samples.append((service - client).total_seconds())

    @property
    def known(self) -> bool:
        return bool(self.samples)

    @property
    def offset(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def margin(self) -> float:
        if not self.samples:
            return UNKNOWN_SKEW_MARGIN
        return MARGIN + min(UNKNOWN_SKEW_MARGIN, max(self.samples) - min(self.samples))


@dataclass
class _Walk:
    """A window of the listing being walked, page by page."""

    window: Window
    token: str | None = None
    requests: int = 0


class Sweeper:
    """The sweeps of one scheduler: what to list and when, walking the pages in its budget,
    and what the pages showed."""

    def __init__(self, scheduler: PollScheduler, list_page: ListPage) -> None:
        self.scheduler = scheduler
        self.policy = scheduler.policy
        self.list_page = list_page
        self.enabled = True
        self._walks: deque[_Walk] = deque()
        self._listing = False  # a page in flight: pages are walked one at a time
        self._sweep_at = 0.0  # when the next sweep is planned (scheduler's monotonic clock)
        self._page_at = 0.0  # when the next page may go, after an error
        self._swept_before = False  # whether the last plan had tasks to list
        self._calibrating = False  # a poll to learn the service clock's offset was asked
        self.skew = Skew()
        self.rows_per_page = FIRST_ROWS_PER_PAGE
        # The fewest requests a window has taken: a group of no more unfinished tasks than
        # this is polled task by task. A listing of finished tasks may take one request per
        # terminal state (DashScope filters on one status at a time), so start at two.
        self.least_per_window = 2
        self.finished: list[float] = []  # creation times of swept tasks that ended, sorted
        self.errors = 0
        self.pages = 0  # listing requests made, for benchmarks and tests
        self.sweep_pages = 0  # of the sweep under way
        self.last_sweep_pages = 0

    # -- what was learned ---------------------------------------------------------------

    def saw_created(self, service: datetime | None, client: datetime | None) -> None:
        if service is not None and client is not None:
            self.skew.add(service, client)

    def ended(self, created: float | None) -> None:
        if created is not None:
            insort(self.finished, created)

    def page_seen(self, rows: int, full: bool) -> None:
        self.pages += 1
        self.sweep_pages += 1
        self.errors = 0
        if full and rows > 0:
            self.rows_per_page = rows

    def window_done(self, requests: int) -> None:
        self.least_per_window = min(self.least_per_window, requests)

    # -- planning -----------------------------------------------------------------------

    def plan(self, tracked: Iterable[S]) -> Plan[S]:
        """Group the unfinished tasks into windows to list; the rest are polled one by one."""
        self.last_sweep_pages, self.sweep_pages = self.sweep_pages or self.last_sweep_pages, 0
        tasks = sorted((t for t in tracked if t.created is not None), key=_created)
        groups: list[list[S]] = []
        for task in tasks:
            if groups and not self._split(groups[-1], task):
                groups[-1].append(task)
            else:
                groups.append([task])
        plan: Plan[S] = Plan(windows=[], one_by_one=[], swept=[])
        for group in groups:
            if len(group) <= self.least_per_window:
                plan.one_by_one += group
            else:
                plan.swept += group
                plan.windows.append(self._window(group))
        return plan

    def _split(self, group: Sequence[Swept], task: Swept) -> bool:
        first, last, this = _created(group[0]), _created(group[-1]), _created(task)
        if this - first > MAX_WINDOW.total_seconds() - 2 * self.skew.margin:
            return True
        # Listing the finished tasks between them costs `between / rows_per_page` pages;
        # a window of its own, at least `least_per_window` requests.
        between = bisect_left(self.finished, this) - bisect_left(self.finished, last)
        return between > self.least_per_window * self.rows_per_page

    def _window(self, group: Sequence[Swept]) -> Window:
        offset, margin = self.skew.offset, self.skew.margin
        models = {t.model for t in group}
        return Window(
            since=_at(math.floor(_created(group[0]) + offset - margin)),
            until=_at(math.ceil(_created(group[-1]) + offset + margin)),
            model=models.pop() if len(models) == 1 else None,
            unfinished=len(group),
        )

    def interval(self, swept: Iterable[Swept], now: float, budget: float | None) -> float:
        """Seconds until the next sweep: a fraction of the youngest possibly-finishing age.

        Before a model's durations are known, any of its tasks may be finishing: then a
        fraction of the oldest one's age, which spends the budget early, while it has room.
        """
        policy = self.policy
        wait, unknown = policy.max_interval, 0.0
        for task in swept:
            age = now - task.born
            if not policy.learned(task.model):
                unknown = max(unknown, age)
                continue
            # Next look when its age is a fraction past the later of now and the age by which
            # the first tenth of such tasks end (the rarer quicker ones may be a bit later).
            wait = min(wait, (1 + policy.lag_ratio) * max(age, policy.early(task.model)) - age)
        if unknown:
            wait = min(wait, policy.lag_ratio * unknown)
        # Listings of many finished tasks take many pages: sweeps take a part of the budget.
        wait = max(wait, self.last_sweep_pages / (SWEEP_SHARE * budget)) if budget else wait
        return max(policy.min_interval / 2, wait)

    # -- running, inside the scheduler's budget -----------------------------------------

    def registered(self, now: float) -> None:
        """A task to sweep was registered."""
        if not self._swept_before:
            # The last plan had nothing to list, so the next may be far off: bring it in.
            self._sweep_at = min(self._sweep_at, now + self.policy.min_interval / 2)

    def next_at(self) -> float | None:
        """When the driver should look again for the sweep's sake (None: no need)."""
        if not self.enabled or self._listing:
            return None
        return self._page_at if self._walks else self._sweep_at

    def start_page(self, group: anyio.abc.TaskGroup, now: float) -> bool:
        """Start the next page of the current sweep, planning one when it is time; return
        whether a request was started (the caller has a free slot of the budget)."""
        if not self.enabled or self._listing:
            return False
        if not self._walks:
            if now < self._sweep_at:
                return False
            self._plan_sweep(now)
        if not self._walks or now < self._page_at:
            return False
        self._listing = True
        self.scheduler.window.begin()
        group.start_soon(self._walk, self._walks[0])
        return True

    def _plan_sweep(self, now: float) -> None:
        scheduler = self.scheduler
        plan = self.plan(scheduler.unfinished())
        for entry in plan.one_by_one:
            if entry.swept:  # too few unfinished around it for a listing: poll it again
                scheduler.reschedule(entry)
        for entry in plan.swept:
            entry.swept = True  # its next poll, if any, is a safety net's
        self._swept_before = bool(plan.swept)
        interval = self.interval(plan.swept, now, scheduler.limit)
        self._sweep_at = now + interval
        if scheduler.limit is not None and scheduler.backlog >= scheduler.limit * interval:
            return  # the tasks known finished fill the budget until the next sweep anyway
        if plan.swept and not self.skew.known and not self._calibrating:
            # Windows are in the service's clock: one poll says how far it is from ours
            # (if the service's statuses say when tasks were created; else wide margins).
            self._calibrating = True
            scheduler.fetch_first(min(plan.swept, key=lambda e: e.born))
        self._walks.extend(_Walk(window) for window in plan.windows)

    async def _walk(self, walk: _Walk) -> None:
        single_attempt.set(True)  # retries are the sweeper's, in the budget
        window = walk.window
        try:
            page = await self.list_page(window.since, window.until, window.model, True, walk.token)
        except VideoProviderError as exc:
            self._after_error(exc)
            return
        except Exception:  # a bug in a provider's listing: fall back to polling each task
            log.exception("listing tasks failed; polling each task instead")
            self.stop()
            return
        finally:
            self._listing = False
            self.scheduler.window.end(self.scheduler.clock.monotonic())
        self.page_seen(len(page.statuses), full=page.next_page is not None)
        for status in page.statuses:
            waits = self.scheduler.waits_on(status.provider, status.task_id)
            if not waits:
                continue  # another program's task, or one nobody here waits on any more
            self.saw_created(status.submitted_at, next(iter(waits)).task.submitted_at)
            if status.is_terminal:
                self.scheduler.confirm(status.provider, status.task_id)
        walk.requests += 1
        walk.token = page.next_page
        if walk.token is None and self._walks and self._walks[0] is walk:
            self._walks.popleft()
            self.window_done(walk.requests)

    def _after_error(self, exc: VideoProviderError) -> None:
        if not (exc.retryable or isinstance(exc, ProtocolError)):
            log.warning("listing tasks failed: %s; polling each task instead", exc.message)
            self.stop()
            return
        self.errors += 1
        delay = self.policy.error_delay(self.errors)
        retry_after: Any = getattr(exc, "retry_after", None)
        if retry_after:
            pause = cap_retry_after(float(retry_after))
            self.scheduler.window.pause(self.scheduler.clock.monotonic(), pause)
            delay = max(delay, pause)
        if self.errors >= MAX_SWEEP_ERRORS:
            log.warning("listing tasks failed: %s; skipping this sweep", exc.message)
            self.errors = 0
            self._walks.clear()  # the safety-net polls and the next sweep cover it
        self._page_at = self.scheduler.clock.monotonic() + delay

    def stop(self) -> None:
        """Poll every task on the ordinary schedule from now on."""
        self.enabled = False
        self._walks.clear()
        for entry in self.scheduler.unfinished():
            if entry.swept:
                self.scheduler.reschedule(entry)


def _created(task: Swept) -> float:
    assert task.created is not None
    return task.created


def _at(seconds: int) -> datetime:
    # Whole seconds: the service's window has no finer unit, and rounding outwards keeps
    # every task of the group inside it.
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
