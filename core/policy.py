"""When a task is next worth polling: rarely while young, often around when such tasks end.

A poll at age `a` that finds the task unfinished is followed by one at `a * (1 + lag_ratio)`,
so a task is seen finished at most `lag_ratio` of its duration late (10% by default) with the
fewest polls that guarantee it: about `log(d / d0) / log(1 + lag_ratio)` for a task of
duration `d` first polled at age `d0`. `d0` is a low quantile of how long tasks of that model
take (its 1% quantile): a prior at first, then learned from tasks that finished here. Delays stay
between `min_interval` and `max_interval`, so every task is polled at least every
`max_interval`.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

from .backoff import Backoff

__all__ = ["AdaptivePolicy"]

Z_EARLY = 2.326  # the 1% quantile of a standard normal, in standard deviations
Z_TENTH = 1.2816  # the 10% quantile
LEARN_AFTER = 8  # finished tasks of a model before their durations replace the prior


class _RunningLogStats:
    """Mean and spread of the last `window` values, updated in O(1)."""

    def __init__(self, window: int = 256) -> None:
        self.values: deque[float] = deque()
        self.window = window
        self.total = 0.0
        self.squares = 0.0

    @property
    def count(self) -> int:
        return len(self.values)

    def add(self, x: float) -> None:
        if len(self.values) == self.window:
            old = self.values.popleft()
            self.total -= old
            self.squares -= old * old
        self.values.append(x)
        self.total += x
        self.squares += x * x

    @property
    def mean(self) -> float:
        return self.total / len(self.values)

    @property
    def std(self) -> float:
        mean = self.mean
        return math.sqrt(max(0.0, self.squares / len(self.values) - mean * mean))


@dataclass
class AdaptivePolicy:
    typical_seconds: float = 60.0  # prior median task duration
    sigma: float = 0.5  # prior spread (log-normal)
    lag_ratio: float = 0.1
    min_interval: float = 2.0
    max_interval: float = 15.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    _sums: dict[str | None, _RunningLogStats] = field(default_factory=dict)
    # (median, sigma) per model, recomputed only when a task finishes: every poll asks.
    _fitted: dict[str | None, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._errors = Backoff(
            floor=self.min_interval,
            ceiling=max(self.min_interval, self.max_interval),
            jitter=self.jitter,
            rng=self.rng,
        )

    def observe(self, model: str | None, seconds: float) -> None:
        """A task of `model` took about `seconds`."""
        # A log-normal fit over the last 256 durations, kept as running sums so that
        # learning costs O(1) per finished task.
        fit = self._sums.setdefault(model, _RunningLogStats())
        fit.add(math.log(max(seconds, 1e-3)))
        if fit.count >= LEARN_AFTER:
            self._fitted[model] = (math.exp(fit.mean), max(fit.std, 0.05))

    def _median_sigma(self, model: str | None) -> tuple[float, float]:
        return self._fitted.get(model) or (self.typical_seconds, self.sigma)

    def learned(self, model: str | None) -> bool:
        """Whether durations of `model` seen here have replaced the prior."""
        return model in self._fitted

    def _age_at(self, model: str | None, z: float) -> float:
        """The age by which the share of tasks of `model` that `z` (in standard deviations
        of the log-normal fit) stands for have finished."""
        median, sigma = self._median_sigma(model)
        return median * math.exp(z * sigma)

    def latest(self, model: str | None) -> float:
        """The age by which a task of `model` has almost surely (99%) finished."""
        return self._age_at(model, Z_EARLY)

    def early(self, model: str | None) -> float:
        """The age by which a tenth of the tasks of `model` have finished."""
        return self._age_at(model, -Z_TENTH)

    def earliest(self, model: str | None) -> float:
        """The age before which a task of `model` is unlikely (1%) to be finished."""
        return self._age_at(model, -Z_EARLY)

    def first_delay(self, model: str | None, age: float) -> float:
        wait = max(0.0, self.earliest(model) - age)
        wait *= self.rng.uniform(1 - self.jitter, 1.0)  # spread tasks submitted together
        return min(wait, self.max_interval)

    def next_delay(self, model: str | None, age: float) -> float:
        until_earliest = self.earliest(model) - age
        delay = until_earliest if until_earliest > 0 else age * self.lag_ratio
        return min(self.max_interval, max(self.min_interval, delay))

    def safety_delay(self, model: str | None, age: float) -> float:
        """When to poll a task whose end a listing or a push should report anyway: not
        before twice the age by which nearly every such task (99%) has finished, then at
        ages doubling; four to forty times `max_interval` apart (1 to 10 min by default)."""
        late = 2 * self.latest(model)
        delay = late - age if age < late else age
        return min(40 * self.max_interval, max(4 * self.max_interval, delay))

    def error_delay(self, consecutive_errors: int) -> float:
        return self._errors.delay(consecutive_errors - 1)

    def chance_done(self, model: str | None, last_age: float, age: float) -> float:
        """P(finished by `age` | not finished at `last_age`), from the model's durations."""
        median, sigma = self._median_sigma(model)

        def cdf(a: float) -> float:
            if a <= 0:
                return 0.0
            return 0.5 * (1 + math.erf(math.log(a / median) / (sigma * math.sqrt(2))))

        before = cdf(last_age)
        return (cdf(age) - before) / max(1e-9, 1 - before)
