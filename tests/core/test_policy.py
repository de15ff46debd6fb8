"""AdaptivePolicy: what it learns from finished tasks."""

import math
import random

import pytest

from videoprovider.policy import LEARN_AFTER, Z_EARLY, AdaptivePolicy


def test_uses_the_prior_until_enough_tasks_finished() -> None:
    policy = AdaptivePolicy(typical_seconds=60.0, sigma=0.5)
    for _ in range(LEARN_AFTER - 1):
        policy.observe("m", 300.0)
    assert policy.earliest("m") == pytest.approx(60.0 * math.exp(-Z_EARLY * 0.5))
    policy.observe("m", 300.0)
    assert policy.earliest("m") == pytest.approx(300.0 * math.exp(-Z_EARLY * 0.05))


def test_fits_a_log_normal_per_model_from_recent_tasks() -> None:
    rng = random.Random(3)
    policy = AdaptivePolicy(typical_seconds=60.0)
    for _ in range(256):
        policy.observe("slow", rng.lognormvariate(math.log(90.0), 0.5))
        policy.observe("fast", 10.0)
    expected = 90.0 * math.exp(-Z_EARLY * 0.5)
    assert policy.earliest("slow") == pytest.approx(expected, rel=0.15)
    assert policy.earliest("fast") == pytest.approx(10.0 * math.exp(-Z_EARLY * 0.05))
    # Only the last 256 count: a model that got slower is relearned.
    for _ in range(256):
        policy.observe("fast", 40.0)
    assert policy.earliest("fast") == pytest.approx(40.0 * math.exp(-Z_EARLY * 0.05))
