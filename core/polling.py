"""The wait loop: poll a task's status until it ends, with backoff, jitter and retry-after.

One implementation serves the async client and, through it, the sync one. Time comes from the
injected `Clock`, so tests run hours of polling on a virtual clock in microseconds.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .backoff import Backoff
from .clock import Clock
from .errors import VideoProviderError, WaitTimeout
from .models import Task, TaskStatus

__all__ = ["PollPolicy", "poll_until_terminal"]

log = logging.getLogger("videoprovider.polling")

StatusChange = Callable[[TaskStatus, "TaskStatus | None"], Awaitable[None]]


@dataclass(frozen=True)
class PollPolicy:
    """How often `wait` asks for a task's status.

    The first poll happens at once; then the delay starts at `interval` and grows by
    `multiplier` while nothing changes, up to `max_interval`. A state change starts the
    delay again from `interval`, because a task that has just started running is the one most
    likely to change again soon. Each delay loses a random fraction up to `jitter`.
    """

    interval: float = 2.0
    max_interval: float = 15.0
    multiplier: float = 1.5
    jitter: float = 0.2

    def backoff(self, rng: random.Random | None = None) -> Backoff:
        return Backoff(
            floor=self.interval,
            ceiling=max(self.interval, self.max_interval),
            multiplier=self.multiplier,
            jitter=self.jitter,
            rng=rng or random.Random(),
        )


async def poll_until_terminal(
    fetch: Callable[[], Awaitable[TaskStatus]],
    *,
    task: Task,
    clock: Clock,
    policy: PollPolicy,
    timeout: float | None,
    on_change: StatusChange,
    rng: random.Random | None = None,
) -> TaskStatus:
    """Poll `fetch` until it returns a terminal status and return that status.

    Transient errors (`retryable` ones: throttling, provider unavailable) are logged and
    polled through until the timeout, honouring a `retry_after` the provider asked for.
    Raises WaitTimeout carrying the task and its last status when `timeout` runs out.
    """
    backoff = policy.backoff(rng)
    deadline = None if timeout is None else clock.monotonic() + timeout
    last: TaskStatus | None = None
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            status = await fetch()
        except VideoProviderError as exc:
            if not exc.retryable:
                raise
            retry_after = getattr(exc, "retry_after", None)
            log.warning("polling task %s: %s; will retry", task.task_id, exc.message)
        else:
            if last is None or (status.state, status.progress) != (last.state, last.progress):
                if last is not None and status.state != last.state:
                    attempt = 0
                await on_change(status, last)
            last = status
            if status.is_terminal:
                return status
        delay = backoff.delay(attempt, retry_after)
        attempt += 1
        if deadline is not None:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                state = last.state.value if last else "never seen"
                raise WaitTimeout(
                    f"Task {task.task_id} did not finish within {timeout:g} s (last state: "
                    f"{state}).",
                    task=task,
                    last_status=last,
                    timeout=timeout,
                )
            delay = min(delay, remaining)
        await clock.sleep(delay)
