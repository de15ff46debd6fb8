"""One poll scheduler per client: every wait shares it, under one request budget.

Waiting on thousands of tasks with one loop per task floods the provider with status
requests and gets throttled. Here all waits register with one scheduler; whichever waiter
finds nobody driving it drives it (no background task outlives a call), and hands over when
its own task is done. The scheduler

* never lets more requests reach the provider in any one-second window than the budget
  allows, however the network delays them (core/budget.py),
* asks the `AdaptivePolicy` when each task is next worth polling (rarely while young, more
  often around the time such tasks usually finish, and at least every `max_interval`),
* when more tasks are due than the budget allows, polls those most likely to have finished,
* honours a provider's retry-after for everyone (throttling is per account, not per task),
  up to the cap every retry-after obeys (`backoff.cap_retry_after`, 300 s),
* applies what a provider pushed (`deliver`: a verified webhook ends the waits on its task)
  and fetches at once the tasks it was told have finished (`confirm`: a completion event),
* when the provider lists its tasks, learns from that listing which tasks finished and
  polls the others only as a safety net (core/sweeps.py): about one request per task.
* polls a task a status stream follows (`streamed`, core/watching.py) only as a safety
  net, and counts each stream's opening in the budget (`begin_request`).

Only the driver sleeps, on the injected clock, so a virtual clock runs it deterministically.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import OrderedDict, deque
from typing import Any, Protocol

import anyio

from .backoff import cap_retry_after
from .budget import IDLE_STEP, RequestWindow
from .clock import Clock
from .errors import ProtocolError, VideoProviderError, WaitTimeout, end_sentence
from .models import Task, TaskStatus
from .policy import AdaptivePolicy
from .provider import single_attempt
from .sweeps import ListPage, Sweeper
from .tracked import Fetch, OnChange, Tracked, regresses, remember

__all__ = ["PollScheduler", "Share"]

log = logging.getLogger("videoprovider.scheduler")
MAX_GARBLED_POLLS = 5  # consecutive ProtocolErrors on one task's polls before giving up


class Share(Protocol):
    """This client's part of an account budget that other workers spend too."""

    def __call__(self, budget: float) -> float:
        """The part of `budget` this client may use now; called on every look, so no I/O."""

    async def refresh(self) -> None:
        """Bring the part up to date (the drive loop awaits it before each look)."""


class PollScheduler:
    """Shared by every wait of one client; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        policy: AdaptivePolicy,
        budget: float | None,
        share: Share | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.budget = budget  # the account's, per second
        # This client's part of `budget` when other workers spend the same account's
        # (core/journal/workers.py); asked on every look, so it follows them coming and going.
        self.share = share
        self._limit_now: int | None = None
        self._heap: list[tuple[float, int, Tracked]] = []
        self._deadlines: list[tuple[float, int, Tracked]] = []
        self._tracked: set[Tracked] = set()
        self._waiting: dict[tuple[str, str], set[Tracked]] = {}  # (provider, id) -> waits
        # Endings pushed before anyone waited on the task (a batch's waits start after its
        # submits): the wait that comes later returns them instead of polling.
        self._pushed: OrderedDict[tuple[str, str], TaskStatus] = OrderedDict()
        # Tasks the provider said have finished (an event, a listing): their final status is
        # fetched ahead of every other poll. `_hinted` keeps such news for later waits.
        self._confirm: deque[Tracked] = deque()
        self._hinted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seq = 0
        self._driving = False
        self.window = RequestWindow()  # polls and listing pages, in the budget
        self._sleeping: anyio.CancelScope | None = None
        self.sweeper: Sweeper | None = None  # batch status, when the provider lists tasks
        # Tasks a status stream follows (core/watching.py): polled only as a safety net.
        self.streamed: set[tuple[str, str]] = set()

    def use_listing(self, list_page: ListPage) -> None:
        """Learn which tasks finished from the provider's listing (core/sweeps.py)."""
        self.sweeper = Sweeper(self, list_page)

    # -- registering and waiting ----------------------------------------------------------

    async def wait(
        self, task: Task, fetch: Fetch, on_change: OnChange, timeout: float | None
    ) -> TaskStatus:
        """Poll `task` until it is terminal; return that status (or raise WaitTimeout)."""
        pushed = self._pushed.pop((task.provider, task.task_id), None)
        if pushed is not None:
            await on_change(pushed, None)
            return pushed
        now = self.clock.monotonic()
        age = 0.0
        if task.submitted_at is not None:
            age = max(0.0, (self.clock.now() - task.submitted_at).total_seconds())
        model = task.request.model if task.request else None
        created = task.submitted_at.timestamp() if task.submitted_at else None
        # With other tasks to wait on, a listing will likely report this one's end.
        swept = self._sweeping and created is not None and bool(self._tracked)
        slow = swept or (task.provider, task.task_id) in self.streamed
        first = self.policy.safety_delay if slow else self.policy.first_delay
        entry = Tracked(
            task=task,
            on_change=on_change,
            fetch=fetch,
            timeout=timeout,
            deadline=None if timeout is None else now + timeout,
            born=now - age,
            due=now + first(model, age),
            created=created,
            swept=swept,
        )
        if swept:
            assert self.sweeper is not None
            self.sweeper.registered(entry, now)
        key = (task.provider, task.task_id)
        if key in self._hinted:
            del self._hinted[key]
            self.fetch_first(entry)
        self._push(entry)
        self._waiting.setdefault(key, set()).add(entry)
        if entry.deadline is not None:
            heapq.heappush(self._deadlines, (entry.deadline, self._seq, entry))
        try:
            while not entry.done.is_set():
                if self._driving:
                    await entry.wake.wait()
                    entry.wake = anyio.Event()
                else:
                    await self._drive(entry)
        finally:
            self._tracked.discard(entry)
            waits = self._waiting.get(key, set())
            waits.discard(entry)
            if not waits:
                self._waiting.pop(key, None)
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    async def deliver(self, status: TaskStatus) -> bool:
        """Apply a status the provider pushed (a verified webhook) to every wait on its task,
        as if a poll had returned it: a terminal one ends those waits with no further poll.
        Return whether any wait was tracking the task."""
        key = (status.provider, status.task_id)
        waits = self.waits_on(*key)
        for entry in waits:
            await self._apply(entry, status, polled=False)
        if waits:
            self._wake_driver()
        if not waits and status.is_terminal:
            remember(self._pushed, key, status)
        return bool(waits)

    def confirm(self, provider: str, task_id: str) -> bool:
        """The provider said the task has finished (a completion event, a listing) without
        its final status: fetch that status now, ahead of every other poll, in the budget.
        A wait that starts later polls at once. Return whether any wait was tracking it."""
        key = (provider, task_id)
        waits = self.waits_on(*key)
        for entry in waits:
            if entry.in_flight:
                entry.recheck = True  # that poll may have left before the task finished
            else:
                self.fetch_first(entry)
        if waits:
            self._wake_driver()
        else:
            remember(self._hinted, key, None)
        return bool(waits)

    def _wake_driver(self) -> None:
        if self._sleeping is not None:
            self._sleeping.cancel()
        self.window.returned.set()

    def _push(self, entry: Tracked) -> None:
        self._tracked.add(entry)
        self._seq += 1
        heapq.heappush(self._heap, (entry.due, self._seq, entry))

    # -- the driver -----------------------------------------------------------------------

    async def _drive(self, mine: Tracked) -> None:
        self._driving = True
        try:
            async with anyio.create_task_group() as group:
                while not mine.done.is_set():
                    if self.share is not None:
                        await self.share.refresh()
                    delay = self._launch_due(group)
                    if mine.done.is_set():
                        break
                    if self.window.in_flight and delay > 0:
                        # A poll that returns schedules its task's next one, possibly before
                        # `delay` is up: wake on the first return instead of oversleeping.
                        with anyio.move_on_after(delay):
                            await self.window.returned.wait()
                        self.window.returned = anyio.Event()
                    else:
                        # A push may end waits before the sleep is over; it cancels this.
                        with anyio.CancelScope() as self._sleeping:
                            await self.clock.sleep(delay)
                        self._sleeping = None
        finally:
            self._driving = False
            # Hand the driving over to one waiter still waiting (waking all of them would
            # cost O(n) per handover, O(n^2) over a batch).
            successor = next(
                (e for e in self._tracked if e is not mine and not e.done.is_set()), None
            )
            if successor is not None:
                successor.wake.set()

    def _launch_due(self, group: anyio.abc.TaskGroup) -> float:
        """Start the polls that are due and fit the budget; return how long to sleep."""
        now = self.clock.monotonic()
        self._expire_deadlines(now)
        if now < self.window.paused_until:
            # Nothing may be polled before the pause ends; only a wait timing out can matter.
            pause = self.window.paused_until - now
            if self._deadlines:
                pause = min(pause, max(0.0, self._deadlines[0][0] - now))
            return pause
        allowed = self._allowed(now)
        batch = self._batch()
        if allowed < batch and self._heap and self._heap[0][0] <= now:
            # At the budget. Choosing among the due tasks costs O(due), so choose once a
            # batch of slots is free rather than once per returning poll.
            wait = self.window.until_free(now, batch - allowed)
            return min(wait, max(1e-3, self._deadlines[0][0] - now)) if self._deadlines else wait
        confirmed: dict[Tracked, None] = {}  # in order, once each
        while self._confirm and len(confirmed) < allowed:
            entry = self._confirm.popleft()
            entry.queued = False
            if self._pollable(entry):
                confirmed[entry] = None
        due = list(confirmed)
        allowed -= len(due)
        if allowed > 0 and self.sweeper is not None and self.sweeper.start_page(group, now):
            allowed -= 1
        first = len(due)
        while self._heap and self._heap[0][0] <= now:
            when, _, entry = heapq.heappop(self._heap)
            # An entry confirmed out of turn left its old place in the heap behind.
            if when == entry.due and self._pollable(entry) and entry not in confirmed:
                due.append(entry)
        if len(due) - first > allowed:
            # Spend the budget where a finished task is most likely to be found.
            rest = sorted(due[first:], key=lambda e: self._chance_done(e, now), reverse=True)
            for entry in rest[allowed:]:
                self._push(entry)  # still due: first in line next time
            due = due[:first] + rest[:allowed]
        for entry in due:
            entry.in_flight = True
            self.window.begin()
            group.start_soon(self._poll, entry)
        next_due = self._heap[0][0] if self._heap else now + IDLE_STEP
        wait = max(0.0, next_due - now)
        if self._confirm or (self._heap and self._heap[0][0] <= now):
            wait = self.window.until_free(now)  # budget-bound: wait for a free slot
        while self._deadlines and self._deadlines[0][2].done.is_set():
            heapq.heappop(self._deadlines)
        if self._deadlines:
            wait = min(wait, max(0.0, self._deadlines[0][0] - now))
        if self.sweeper is not None and (next_sweep := self.sweeper.next_at()) is not None:
            wait = min(wait, max(1e-3, next_sweep - now))
        return min(IDLE_STEP, wait)

    # -- for the sweeper (core/sweeps.py) --------------------------------------------------

    @property
    def _sweeping(self) -> bool:
        return self.sweeper is not None and self.sweeper.enabled

    def unfinished(self) -> list[Tracked]:
        return [e for e in self._tracked if not e.done.is_set()]

    def waits_on(self, provider: str, task_id: str) -> list[Tracked]:
        """The waits on the task that have not ended."""
        return [e for e in self._waiting.get((provider, task_id), ()) if not e.done.is_set()]

    def fetch_first(self, entry: Tracked) -> None:
        """Poll `entry` at the next free slot, ahead of the scheduled polls (once, however
        often it is asked before that poll starts)."""
        if not entry.queued:
            entry.queued = True
            self._confirm.append(entry)

    @property
    def backlog(self) -> int:
        """Tasks known finished whose final status is still to fetch."""
        return len(self._confirm)

    @property
    def limit(self) -> int | None:
        return self._limit_now

    def reschedule(self, entry: Tracked) -> None:
        """Poll `entry` on the ordinary schedule again (no listing will report it)."""
        now = self.clock.monotonic()
        entry.swept = False
        entry.due = now + self.policy.next_delay(entry.model, now - entry.born)
        self._push(entry)

    def begin_request(self) -> bool:
        """Count a request made beside the polls (a status stream opening) if the budget
        has room for it now; `end_request` when its reply came."""
        now = self.clock.monotonic()
        if now < self.window.paused_until or self._allowed(now) < 1:
            return False
        self.window.begin()
        return True

    def end_request(self) -> None:
        self.window.end(self.clock.monotonic())

    @property
    def requests(self) -> int:
        """Requests started (status and listing), for benchmarks and tests."""
        return self.window.started

    def _pollable(self, entry: Tracked) -> bool:
        return entry in self._tracked and not entry.done.is_set() and not entry.in_flight

    def _batch(self) -> int:
        # A twentieth of the budget (this client's share of it): at most 50 ms of the
        # budget's worth of delay, and under DashScope's 20 per second a batch of one, i.e.
        # no batching. Never more than the share itself, or nothing would ever start.
        limit = self._limit_now
        return 1 if limit is None else max(1, limit // 20)

    def _limit(self) -> int | None:
        """Status requests this client may have counted at once (None: no limit); at least
        one, unless its share is nothing for now (a worker that just joined)."""
        if self.budget is None:
            return None
        budget = self.budget if self.share is None else self.share(self.budget)
        return max(1, math.floor(budget)) if budget > 0 else 0

    def _allowed(self, now: float) -> int:
        self._limit_now = self._limit()
        return self.window.free(now, self._limit_now)

    def _chance_done(self, entry: Tracked, now: float) -> float:
        model = entry.task.request.model if entry.task.request else None
        return self.policy.chance_done(model, entry.last_poll_age, now - entry.born)

    def _expire_deadlines(self, now: float) -> None:
        postponed = []
        while self._deadlines and self._deadlines[0][0] <= now:
            item = heapq.heappop(self._deadlines)
            entry = item[2]
            if entry.done.is_set():
                continue
            if entry.in_flight:  # decided once its poll returns
                postponed.append(item)
                continue
            state = entry.last.state.value if entry.last else "never seen"
            entry.error = WaitTimeout(
                f"Task {entry.task.task_id} did not finish within {entry.timeout:g} s "
                f"(last state: {state}).",
                task=entry.task,
                last_status=entry.last,
                timeout=entry.timeout,
            )
            self._finish(entry)
        for item in postponed:
            heapq.heappush(self._deadlines, item)

    def _finish(self, entry: Tracked) -> None:
        self._tracked.discard(entry)
        entry.done.set()
        entry.wake.set()

    async def _poll(self, entry: Tracked) -> None:
        single_attempt.set(True)  # this task's own context: retries are ours, in the budget
        try:
            status = await entry.fetch(entry.task)
        except VideoProviderError as exc:
            self._after_error(entry, exc)
            return
        except Exception as exc:  # a bug in a provider must not stop every other wait
            entry.error = exc
            self._finish(entry)
            return
        finally:
            entry.in_flight = False
            self.window.end(self.clock.monotonic())
        entry.polls += 1
        entry.errors = 0
        if self.sweeper is not None:
            self.sweeper.saw_created(status.submitted_at, entry.task.submitted_at)
        await self._apply(entry, status, polled=True)

    async def _apply(self, entry: Tracked, status: TaskStatus, *, polled: bool) -> None:
        # A push may have ended the wait while this poll was in flight; and states never
        # go back: a reply older than what a push already said changes nothing.
        if entry.done.is_set() or regresses(entry.last, status):
            return
        now = self.clock.monotonic()
        age = now - entry.born
        model = entry.task.request.model if entry.task.request else None
        previous = entry.last
        if previous is None or (status.state, status.progress) != (
            previous.state,
            previous.progress,
        ):
            try:
                await entry.on_change(status, previous)
            except Exception as exc:
                entry.error = exc
                self._finish(entry)
                return
        entry.last = status
        if status.is_terminal:
            if self.sweeper is not None:
                self.sweeper.ended(entry.created)
            if status.state.value == "COMPLETED":
                # A poll saw the end between its last two looks; a push, just now.
                self.policy.observe(model, (entry.last_poll_age + age) / 2 if polled else age)
            entry.result = status
            self._finish(entry)
            return
        if not polled:
            return  # the task keeps its place in the poll schedule
        entry.last_poll_age = age
        if entry.recheck:
            entry.recheck = False
            self.fetch_first(entry)
        key = (entry.task.provider, entry.task.task_id)
        slow = (entry.swept and self._sweeping) or key in self.streamed
        entry.due = now + (self.policy.safety_delay if slow else self.policy.next_delay)(model, age)
        self._push(entry)

    def retry_delay(self, exc: VideoProviderError, consecutive_errors: int) -> float:
        """How long before a failed request (a poll or a listing page) is tried again. A
        retry-after holds every request of the account, not just this one: throttling is
        per account."""
        delay = self.policy.error_delay(consecutive_errors)
        retry_after: Any = getattr(exc, "retry_after", None)
        if retry_after:
            pause = cap_retry_after(float(retry_after))
            self.window.pause(self.clock.monotonic(), pause)
            delay = max(delay, pause)
        return delay

    def _after_error(self, entry: Tracked, exc: VideoProviderError) -> None:
        # A garbled reply to a poll is usually a gateway's passing fault, and a poll is safe
        # to repeat; but a protocol that changed under us would garble every reply, so only
        # a few in a row are retried.
        garbled = isinstance(exc, ProtocolError) and entry.errors < MAX_GARBLED_POLLS
        if not (exc.retryable or garbled):
            entry.error = exc
            self._finish(entry)
            return
        now = self.clock.monotonic()
        entry.errors += 1
        delay = self.retry_delay(exc, entry.errors)
        log.warning(
            "polling task %s: %s Retrying in %.1f s.",
            entry.task.task_id,
            end_sentence(exc.message),
            delay,
        )
        entry.due = now + delay
        self._push(entry)
