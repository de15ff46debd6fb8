import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider.backoff import MAX_RETRY_AFTER, Backoff, cap_retry_after, retry_after_header


def test_delays_grow_to_the_ceiling_without_jitter() -> None:
    b = Backoff(floor=1, ceiling=8, multiplier=2, jitter=0)
    assert [b.delay(n) for n in range(6)] == [1, 2, 4, 8, 8, 8]


@given(
    floor=st.floats(0.01, 10),
    extra=st.floats(0, 100),
    mult=st.floats(1, 4),
    jitter=st.floats(0, 0.99),
    attempt=st.integers(0, 200),
    seed=st.integers(),
)
def test_delay_stays_within_jittered_bounds(
    floor: float, extra: float, mult: float, jitter: float, attempt: int, seed: int
) -> None:
    b = Backoff(
        floor=floor, ceiling=floor + extra, multiplier=mult, jitter=jitter, rng=random.Random(seed)
    )
    d = b.delay(attempt)
    assert floor * (1 - jitter) - 1e-9 <= d <= floor + extra + 1e-9


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    b = Backoff(floor=1, ceiling=8, jitter=0, max_retry_after=60)
    assert b.delay(0, retry_after=5) == 5
    assert b.delay(3, retry_after=2) == 8
    assert b.delay(0, retry_after=10_000) == 60


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_retry_after_is_honoured_within_zero_and_the_cap(seconds: float) -> None:
    capped = cap_retry_after(seconds)
    assert 0 <= capped <= MAX_RETRY_AFTER
    if 0 <= seconds <= MAX_RETRY_AFTER:
        assert capped == seconds


def test_backoff_honours_retry_after_through_the_shared_cap() -> None:
    assert Backoff(jitter=0).delay(0, retry_after=86_400) == MAX_RETRY_AFTER == 300


def test_same_seed_same_delays() -> None:
    a = Backoff(rng=random.Random(7))
    b = Backoff(rng=random.Random(7))
    assert [a.delay(n) for n in range(10)] == [b.delay(n) for n in range(10)]


@pytest.mark.parametrize(
    "kwargs", [{"floor": 0}, {"floor": 5, "ceiling": 1}, {"multiplier": 0.5}, {"jitter": 1.0}]
)
def test_invalid_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "Fri, 04 Dec 2026 12:00:30 GMT"}, 30.0),
        # RFC 5322's "no zone information": parsed naive, read as UTC, never a TypeError.
        ({"Retry-After": "Fri, 04 Dec 2026 12:00:30 -0000"}, 30.0),
        ({"Retry-After": "Fri, 04 Dec 2026 13:00:30 +0100"}, 30.0),
        ({"Retry-After": "Fri, 04 Dec 2026 11:00:00 GMT"}, 0.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "next tuesday"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_reads_every_form(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_header(httpx.Headers(headers), NOW) == expected


def test_a_dated_retry_after_counts_from_the_wall_clock_by_default() -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    value = retry_after_header({"retry-after": format_datetime(later, usegmt=True)})
    assert value is not None and 7100 < value <= 7200
