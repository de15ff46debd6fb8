"""One poll scheduler per client: every wait shares it, under one request budget.

Waiting on thousands of tasks with one loop per task floods the provider with status
requests and gets throttled. Here all waits register with one scheduler; whichever waiter
finds nobody driving it drives it (no background task outlives a call), and hands over when
its own task is done. The scheduler

* never lets more status requests reach the provider in any one-second window than the
  budget allows, however the network delays them (see `_allowed`),
* asks the `AdaptivePolicy` when each task is next worth polling (rarely while young, more
  often around the time such tasks usually finish, and at least every `max_interval`),
* when more tasks are due than the budget allows, polls those most likely to have finished,
* honours a provider's retry-after for everyone (throttling is per account, not per task),
  up to the cap every retry-after obeys (`backoff.cap_retry_after`, 300 s).

Only the driver sleeps, on the injected clock, so a virtual clock runs it deterministically.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from .backoff import cap_retry_after
from .clock import Clock
from .errors import ProtocolError, VideoProviderError, WaitTimeout
from .models import Task, TaskStatus
from .policy import AdaptivePolicy
from .provider import single_attempt

__all__ = ["PollScheduler"]

log = logging.getLogger("videoprovider.scheduler")
PUSHED_KEEP = 100_000  # endings pushed for tasks not yet waited on, kept for a later wait
MAX_GARBLED_POLLS = 5  # consecutive ProtocolErrors on one task's polls before giving up

Fetch = Callable[[Task], Awaitable[TaskStatus]]
OnChange = Callable[[TaskStatus, "TaskStatus | None"], Awaitable[None]]
IDLE_STEP = 0.5  # longest sleep of the driver, so newly registered tasks start promptly
WINDOW_SLACK = 1e-6  # seconds: float rounding must never let a window hold one poll too many


@dataclass(eq=False)
class _Tracked:
    task: Task
    on_change: OnChange
    deadline: float | None
    timeout: float | None
    born: float  # clock.monotonic() when the task was submitted (estimated)
    due: float
    fetch: Fetch
    last: TaskStatus | None = None
    last_poll_age: float = 0.0
    polls: int = 0
    errors: int = 0
    in_flight: bool = False
    result: TaskStatus | None = None
    error: BaseException | None = None
    recheck: bool = False  # said finished while a poll was in flight: poll again at once
    done: anyio.Event = field(default_factory=anyio.Event)
    wake: anyio.Event = field(default_factory=anyio.Event)


class PollScheduler:
    """Shared by every wait of one client; see the module docstring."""

    def __init__(
        self,
        clock: Clock,
        policy: AdaptivePolicy,
        budget: float | None,
        share: Callable[[float], float] | None = None,
    ) -> None:
        self.clock = clock
        self.policy = policy
        self.budget = budget  # the account's, per second
        # This client's part of `budget` when other workers spend the same account's
        # (core/journal/workers.py); asked on every look, so it follows them coming and going.
        self.share = share
        self._limit_now: int | None = None
        self._heap: list[tuple[float, int, _Tracked]] = []
        self._deadlines: list[tuple[float, int, _Tracked]] = []
        self._tracked: set[_Tracked] = set()
        self._waiting: dict[tuple[str, str], set[_Tracked]] = {}  # (provider, id) -> waits
        # Endings pushed before anyone waited on the task (a batch's waits start after its
        # submits): the wait that comes later returns them instead of polling.
        self._pushed: OrderedDict[tuple[str, str], TaskStatus] = OrderedDict()
        # Tasks the provider said have finished (an event, a listing): their final status is
        # fetched ahead of every other poll. `_hinted` keeps such news for later waits.
        self._confirm: deque[_Tracked] = deque()
        self._hinted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seq = 0
        self._driving = False
        self._returns: deque[float] = deque()  # when polls returned, over the last second
        self._paused_until = 0.0
        self._in_flight = 0
        self._returned = anyio.Event()
        self._sleeping: anyio.CancelScope | None = None
        self.requests = 0  # status requests started, for benchmarks and tests

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
        entry = _Tracked(
            task=task,
            on_change=on_change,
            fetch=fetch,
            timeout=timeout,
            deadline=None if timeout is None else now + timeout,
            born=now - age,
            due=now + self.policy.first_delay(model, age),
        )
        key = (task.provider, task.task_id)
        if key in self._hinted:
            del self._hinted[key]
            self._confirm.append(entry)
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
        waits = [e for e in self._waiting.get(key, ()) if not e.done.is_set()]
        for entry in waits:
            await self._apply(entry, status, polled=False)
        if waits:
            self._wake_driver()
        if not waits and status.is_terminal:
            _remember(self._pushed, key, status)
        return bool(waits)

    def confirm(self, provider: str, task_id: str) -> bool:
        """The provider said the task has finished (a completion event, a listing) without
        its final status: fetch that status now, ahead of every other poll, in the budget.
        A wait that starts later polls at once. Return whether any wait was tracking it."""
        key = (provider, task_id)
        waits = [e for e in self._waiting.get(key, ()) if not e.done.is_set()]
        for entry in waits:
            if entry.in_flight:
                entry.recheck = True  # that poll may have left before the task finished
            else:
                self._confirm.append(entry)
        if waits:
            self._wake_driver()
        else:
            _remember(self._hinted, key, None)
        return bool(waits)

    def _wake_driver(self) -> None:
        if self._sleeping is not None:
            self._sleeping.cancel()
        self._returned.set()

    def _push(self, entry: _Tracked) -> None:
        self._tracked.add(entry)
        self._seq += 1
        heapq.heappush(self._heap, (entry.due, self._seq, entry))

    # -- the driver -----------------------------------------------------------------------

    async def _drive(self, mine: _Tracked) -> None:
        self._driving = True
        try:
            async with anyio.create_task_group() as group:
                while not mine.done.is_set():
                    delay = self._launch_due(group)
                    if mine.done.is_set():
                        break
                    if self._in_flight and delay > 0:
                        # A poll that returns schedules its task's next one, possibly before
                        # `delay` is up: wake on the first return instead of oversleeping.
                        with anyio.move_on_after(delay):
                            await self._returned.wait()
                        self._returned = anyio.Event()
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
        if now < self._paused_until:
            # Nothing may be polled before the pause ends; only a wait timing out can matter.
            pause = self._paused_until - now
            if self._deadlines:
                pause = min(pause, max(0.0, self._deadlines[0][0] - now))
            return pause
        allowed = self._allowed(now)
        batch = self._batch()
        if allowed < batch and self._heap and self._heap[0][0] <= now:
            # At the budget. Choosing among the due tasks costs O(due), so choose once a
            # batch of slots is free rather than once per returning poll.
            return self._until_free(now, batch - allowed)
        confirmed: dict[_Tracked, None] = {}  # in order, once each
        while self._confirm and len(confirmed) < allowed:
            entry = self._confirm.popleft()
            if self._pollable(entry):
                confirmed[entry] = None
        due = list(confirmed)
        allowed -= len(due)
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
            self._in_flight += 1
            self.requests += 1
            group.start_soon(self._poll, entry)
        next_due = self._heap[0][0] if self._heap else now + IDLE_STEP
        wait = max(0.0, next_due - now)
        if self._confirm or (self._heap and self._heap[0][0] <= now):
            # Budget-bound: wait for a free slot.
            wait = (self._returns[0] + 1.0 + 2 * WINDOW_SLACK - now) if self._returns else 1e-3
            wait = max(1e-3, wait)
        while self._deadlines and self._deadlines[0][2].done.is_set():
            heapq.heappop(self._deadlines)
        if self._deadlines:
            wait = min(wait, max(0.0, self._deadlines[0][0] - now))
        return min(IDLE_STEP, wait)

    def _pollable(self, entry: _Tracked) -> bool:
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

    def _until_free(self, now: float, slots: int) -> float:
        """How long until `slots` more requests fit the budget (polls in flight that
        return wake the driver anyway)."""
        if len(self._returns) >= slots:
            wait = self._returns[slots - 1] + 1.0 + 2 * WINDOW_SLACK - now
        elif self._returns:
            wait = self._returns[-1] + 1.0 + 2 * WINDOW_SLACK - now
        else:
            wait = IDLE_STEP
        if self._deadlines:
            wait = min(wait, self._deadlines[0][0] - now)
        return min(IDLE_STEP, max(1e-3, wait))

    def _allowed(self, now: float) -> int:
        limit = self._limit_now = self._limit()
        if limit is None:
            return 1 << 30
        # A request reaches the server somewhere between its start and its return, so a
        # request counts against the budget from its start until a second after it returned.
        # Then for any one-second window at the server, the last request to arrive in it was
        # started while every other one was in flight or had returned within the second
        # before: however the network bunches requests up, no window sees over the budget.
        # (Counting starts alone let 1,572 arrive in one second against a budget of 1,200.)
        while self._returns and self._returns[0] < now - 1.0 - WINDOW_SLACK:
            self._returns.popleft()
        used = self._in_flight + len(self._returns)
        return max(0, limit - used)

    def _chance_done(self, entry: _Tracked, now: float) -> float:
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

    def _finish(self, entry: _Tracked) -> None:
        self._tracked.discard(entry)
        entry.done.set()
        entry.wake.set()

    async def _poll(self, entry: _Tracked) -> None:
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
            self._in_flight -= 1
            self._returns.append(self.clock.monotonic())
            self._returned.set()
        entry.polls += 1
        entry.errors = 0
        await self._apply(entry, status, polled=True)

    async def _apply(self, entry: _Tracked, status: TaskStatus, *, polled: bool) -> None:
        # A push may have ended the wait while this poll was in flight; and states never
        # go back: a reply older than what a push already said changes nothing.
        if entry.done.is_set() or _regresses(entry.last, status):
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
            self._confirm.append(entry)
        entry.due = now + self.policy.next_delay(model, age)
        self._push(entry)

    def _after_error(self, entry: _Tracked, exc: VideoProviderError) -> None:
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
        retry_after: Any = getattr(exc, "retry_after", None)
        delay = self.policy.error_delay(entry.errors)
        if retry_after:
            pause = cap_retry_after(float(retry_after))
            # Throttling is per account: hold every poll, not just this one.
            self._paused_until = max(self._paused_until, now + pause)
            delay = max(delay, pause)
        log.warning(
            "polling task %s: %s; retrying in %.1f s", entry.task.task_id, exc.message, delay
        )
        entry.due = now + delay
        self._push(entry)


def _remember(kept: OrderedDict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
    kept[key] = value
    while len(kept) > PUSHED_KEEP:
        kept.popitem(last=False)


def _regresses(last: TaskStatus | None, status: TaskStatus) -> bool:
    return last is not None and last.is_terminal and not status.is_terminal
