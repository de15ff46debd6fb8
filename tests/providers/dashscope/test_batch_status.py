"""Batch status against the emulator: the task listing tells the client which tasks ended."""

import pytest

from videoprovider import TaskState, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider_dashscope.emulator import RunningEmulator
from videoprovider_dashscope.testing import TEST_KEY

N = 40
# Real-time query limits do not apply on the virtual clock; the client's budget still does.
pytestmark = pytest.mark.dashscope_emulator(task_seconds=60.0, sigma=0.4, qps_limit=None)


def wait_for_all(emulator: RunningEmulator, clock: VirtualClock, **settings: object) -> None:
    with VideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=clock,
        api_key=TEST_KEY,
        base_url=emulator.base_url,
        **settings,
    ) as client:
        tasks = [client.submit(f"a cat, take {i}", model="wan2.6-t2v") for i in range(N)]
        outcomes = list(client.as_completed(tasks))
    assert len(outcomes) == N and all(o.ok for o in outcomes)
    assert all(o.status is not None and o.status.state is TaskState.COMPLETED for o in outcomes)


def test_many_tasks_are_each_fetched_about_once_after_the_listing_shows_them_ended(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    wait_for_all(dashscope_emulator, dashscope_clock)
    counts = dashscope_emulator.service.stats.counts
    assert counts["status"] <= 1.25 * N, counts
    assert counts["list"] >= 1
    assert counts["status"] + counts["list"] <= 3 * N, counts


def test_without_the_listing_the_same_tasks_are_polled_several_times_each(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    wait_for_all(dashscope_emulator, dashscope_clock, poll_listing=False)
    counts = dashscope_emulator.service.stats.counts
    assert counts.get("list", 0) == 0 and counts["status"] > 4 * N, counts


@pytest.mark.dashscope_emulator(task_seconds=60.0, sigma=0.4, qps_limit=None, list_lag=40.0)
def test_a_listing_that_lags_behind_delays_tasks_but_loses_none(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    wait_for_all(dashscope_emulator, dashscope_clock)
