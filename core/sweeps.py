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
* **Pace.** A task finishing at age `d` should be seen about `lag_ratio * d` late, so each
  task is next due for a look when its age is that fraction past the later of its age now
  and the age by which the first tenth of such tasks end: often while it may be ending,
  rarely before and when old. A sweep lists the tasks due (and those halfway there, so
  tasks due at nearby times share it), so old tasks, around which most finished rows lie,
  are listed less often. Until the scheduler has seen how long a model's tasks take, a
  task's next look is a tenth of its age: the budget is spent early to learn durations.
  Sweeps that run to many pages take at most a quarter of the budget, and none is made
  while the tasks already known finished take all the budget until the next one.
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
from typing import Generic, Protocol, TypeVar

import anyio

from .budget import RequestWindow
from .clock import Clock
from .errors import ProtocolError, VideoProviderError, end_sentence
from .models import TaskPage
from .policy import AdaptivePolicy
from .provider import single_attempt
from .tracked import Tracked

__all__ = ["MAX_WINDOW", "ListPage", "SweepHost", "Sweeper", "Window"]

log = logging.getLogger("videoprovider.scheduler")
# (since, until, model, finished, page) -> one page of the provider's listing, one request
ListPage = Callable[[datetime, datetime, "str | None", bool, "str | None"], Awaitable[TaskPage]]

MAX_WINDOW = timedelta(hours=23)  # the service allows 24 h; room for the margins
UNKNOWN_SKEW_MARGIN = 120.0  # seconds each side while the offset is not known at all
MARGIN = 10.0  # seconds each side once known: the submit's own round trip, rounding
SKEW_SAMPLES = 64
FIRST_ROWS_PER_PAGE = 100  # a guess at the page size until a full page is seen
FORGET_AFTER = 2 * 86400.0  # seconds of ended tasks' creation times kept for splitting
SWEEP_SHARE = 0.25  # of the budget, at most, that sweeps of many pages may take
MAX_SWEEP_ERRORS = 5  # consecutive failed pages before a sweep is given up until the next


class Swept(Protocol):
    """What planning needs to know of a task the scheduler tracks."""

    created: float | None  # client wall time of the submit, seconds since the epoch
    born: float  # client monotonic time of the submit
    swept: bool
    look_at: float  # when a listing should next cover it (scheduler's monotonic clock)

    @property
    def model(self) -> str | None: ...


class SweepHost(Protocol):
    """What a sweeper needs of the scheduler that runs it (`PollScheduler` is one): its
    clock, policy and request window, the tasks it waits on, and a way to have a task
    polled. The sweeper knows no more of it, so sweeps.py never imports the scheduler."""

    clock: Clock
    policy: AdaptivePolicy
    window: RequestWindow  # every listing page counts in the budget, as a poll

    @property
    def limit(self) -> int | None:
        """This client's requests per second, or None for no budget."""

    @property
    def backlog(self) -> int:
        """Tasks known finished whose final status is still to fetch."""

    def unfinished(self) -> list[Tracked]:
        """The waits that have not ended."""

    def waits_on(self, provider: str, task_id: str) -> list[Tracked]:
        """The waits on this task that have not ended (none: not one of ours)."""

    def fetch_first(self, entry: Tracked) -> None:
        """Poll `entry` at the next free slot, ahead of the scheduled polls."""

    def confirm(self, provider: str, task_id: str) -> bool:
        """A listing showed the task finished: fetch its final status soon."""

    def reschedule(self, entry: Tracked) -> None:
        """Poll `entry` on the ordinary schedule again."""

    def retry_delay(self, exc: VideoProviderError, consecutive_errors: int) -> float:
        """Seconds before a failed request is tried again (honouring its retry-after)."""


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
    poll: list[S]  # due, but in groups too small for a listing: a poll each is cheaper
    swept: list[S]  # now covered by a listing (or about to be polled), swept from now on


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

    def __init__(self, scheduler: SweepHost, list_page: ListPage) -> None:
        self.scheduler = scheduler
        self.policy = scheduler.policy
        self.list_page = list_page
        self.enabled = True
        self._walks: deque[_Walk] = deque()
        self._listing = False  # a page in flight: pages are walked one at a time
        self._sweep_at = 0.0  # when the next sweep is planned (scheduler's monotonic clock)
        self._page_at = 0.0  # when the next page may go, after an error
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
            # No window reaches back further than a day: forget what lies before it, so a
            # client that runs for months keeps a day's worth.
            if self.finished[0] < created - FORGET_AFTER:
                del self.finished[: bisect_left(self.finished, created - FORGET_AFTER)]

    def page_seen(self, rows: int, full: bool) -> None:
        self.pages += 1
        self.sweep_pages += 1
        self.errors = 0
        if full and rows > 0:
            self.rows_per_page = rows

    def window_done(self, requests: int) -> None:
        self.least_per_window = min(self.least_per_window, requests)

    # -- planning -----------------------------------------------------------------------

    def plan(self, tracked: Iterable[S], now: float) -> Plan[S]:
        """Group the tasks due for a look into windows to list; the rest wait their turn.

        A task is due once half the time to its next look has passed: looking a little
        early costs nothing when its window is listed anyway, and lets tasks due at nearby
        times share a listing. Tasks polled on the ordinary schedule join a window when one
        forms around them.
        """
        self.last_sweep_pages, self.sweep_pages = self.sweep_pages or self.last_sweep_pages, 0
        due = sorted(
            (t for t in tracked if t.created is not None and self._due(t, now)), key=_created
        )
        groups: list[list[S]] = []
        for task in due:
            if groups and not self._split(groups[-1], task):
                groups[-1].append(task)
            else:
                groups.append([task])
        plan: Plan[S] = Plan(windows=[], poll=[], swept=[])
        for group in groups:
            swept = [t for t in group if t.swept]
            if len(group) > self.least_per_window:
                plan.swept += group
                plan.windows.append(self._window(group))
            elif swept:
                plan.poll += swept  # ordinary ones keep their own schedule
                plan.swept += swept
        for task in plan.swept:
            task.look_at = now + self.next_look(task, now)
        return plan

    def _due(self, task: Swept, now: float) -> bool:
        return not task.swept or task.look_at - now <= self.next_look(task, now) / 2

    def next_look(self, task: Swept, now: float) -> float:
        """Seconds until a listing should cover `task` again: when its age is a fraction
        (`lag_ratio`) past the later of its age now and the age by which the first tenth of
        such tasks end; while its model's durations are unknown, a fraction of its age, so
        the budget is spent early to learn them."""
        policy, age = self.policy, now - task.born
        if policy.learned(task.model):
            wait = (1 + policy.lag_ratio) * max(age, policy.early(task.model)) - age
        else:
            wait = policy.lag_ratio * age
        return min(policy.max_interval * 4, max(policy.min_interval / 2, wait))

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

    def next_sweep(self, tracked: Iterable[Swept], now: float, budget: int | None) -> float:
        """When to plan the next sweep: when a swept task is next due, but no sooner than
        the shortest look any of them needs (tasks due in between share that sweep), and
        sweeps that run to many pages take at most a share of the budget."""
        spacing = self.last_sweep_pages / (SWEEP_SHARE * budget) if budget else 0.0
        shortest, due = self.policy.max_interval, now + self.policy.max_interval
        for task in tracked:
            if task.swept:
                look = self.next_look(task, now)
                shortest = min(shortest, look)
                due = min(due, task.look_at - look / 2)
        return max(now + max(spacing, shortest, self.policy.min_interval / 2), due)

    # -- running, inside the scheduler's budget -----------------------------------------

    def registered(self, task: Swept, now: float) -> None:
        """A task to sweep was registered: its first look comes when it may first end."""
        task.look_at = now + self.next_look(task, now)
        self._sweep_at = min(self._sweep_at, task.look_at)

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
        tracked = scheduler.unfinished()
        plan = self.plan(tracked, now)
        for entry in plan.swept:
            entry.swept = True  # its next poll, if any, is a safety net's
        for entry in plan.poll:
            scheduler.fetch_first(entry)
        self._sweep_at = self.next_sweep(tracked, now, scheduler.limit)
        if scheduler.limit is not None and scheduler.backlog >= scheduler.limit * (
            self._sweep_at - now
        ):
            return  # the tasks known finished fill the budget until the next sweep anyway
        if plan.windows and not self.skew.known and not self._calibrating:
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
            self.saw_created(status.submitted_at, waits[0].task.submitted_at)
            if status.is_terminal:
                self.scheduler.confirm(status.provider, status.task_id)
        walk.requests += 1
        walk.token = page.next_page
        if walk.token is None and self._walks and self._walks[0] is walk:
            self._walks.popleft()
            self.window_done(walk.requests)

    def _after_error(self, exc: VideoProviderError) -> None:
        if not (exc.retryable or isinstance(exc, ProtocolError)):
            log.warning(
                "Listing tasks failed: %s Polling each task instead.", end_sentence(exc.message)
            )
            self.stop()
            return
        self.errors += 1
        delay = self.scheduler.retry_delay(exc, self.errors)
        if self.errors >= MAX_SWEEP_ERRORS:
            log.warning("Listing tasks failed: %s Skipping this sweep.", end_sentence(exc.message))
            self.errors = 0
            # Until a listing works again, every task is polled on the ordinary schedule:
            # the safety net alone would see a task's end up to ten minutes late.
            self._unsweep()
        self._page_at = self.scheduler.clock.monotonic() + delay

    def stop(self) -> None:
        """Poll every task on the ordinary schedule from now on."""
        self.enabled = False
        self._unsweep()

    def _unsweep(self) -> None:
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
