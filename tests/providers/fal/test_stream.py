"""fal's status stream: a waited request followed on one SSE stream instead of polls.

Time is a `HeldClock` shared with the emulator: it stands still until the test advances
it, so the safety-net polls cannot end a wait and only the stream (or, after a fault, the
polling fallback) can. Real time only bounds how long a test waits for loopback replies.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from videoprovider.client import AsyncVideoClient
from videoprovider.models import Task, TaskState, TaskStatus
from videoprovider.testing.clocks import HeldClock
from videoprovider_fal.emulator import EmulatorConfig, Fault, RunningEmulator, run_in_thread
from videoprovider_fal.testing import TEST_KEY, emulator_settings

pytestmark = pytest.mark.anyio
CONFIG = EmulatorConfig(api_keys=(TEST_KEY,), queue_seconds=2.0, run_seconds=8.0)
REAL_BOUND = 10  # real seconds a loopback reply may take on a loaded machine


@asynccontextmanager
async def _client(
    clock: HeldClock, config: EmulatorConfig = CONFIG, **settings: Any
) -> AsyncIterator[tuple[AsyncVideoClient, RunningEmulator]]:
    with run_in_thread(config, clock=clock) as emulator:
        async with AsyncVideoClient(
            "fal",
            config=False,
            environ={},
            clock=clock,
            **emulator_settings(emulator),
            **settings,
        ) as client:
            yield client, emulator


async def _wait_streamed(
    client: AsyncVideoClient, clock: HeldClock, task: Task
) -> tuple[TaskStatus, list[TaskState]]:
    """Wait on `task`; once the stream has said the request is queued, let its time pass."""
    seen: list[TaskState] = []
    heard = anyio.Event()

    def on_progress(status: TaskStatus) -> None:
        seen.append(status.state)
        heard.set()

    result: dict[str, TaskStatus] = {}
    async with anyio.create_task_group() as group:

        async def wait() -> None:
            result["final"] = await client.wait(task, timeout=3600, on_progress=on_progress)

        group.start_soon(wait)
        with anyio.fail_after(REAL_BOUND):
            await heard.wait()
            clock.advance(30.0)  # past the emulated run: only the stream can tell
    return result["final"], seen


async def test_a_waited_request_ends_through_the_stream_with_no_status_poll() -> None:
    clock = HeldClock()
    async with _client(clock) as (client, emulator):
        task = await client.submit("a cat")
        final, seen = await _wait_streamed(client, clock, task)
        watcher = client._backends.main.watcher
    assert final.state is TaskState.COMPLETED and final.video_url
    assert seen == [TaskState.PENDING, TaskState.COMPLETED]
    assert emulator.service.requests_of("status") == []  # no poll at all
    (stream,) = emulator.service.requests_of("stream")
    assert stream.path.endswith(f"/requests/{task.task_id.split(':')[1]}/status/stream")
    assert stream.headers["authorization"].startswith("Key …")  # the key, on its origin
    assert len(emulator.service.requests_of("result")) == 1  # the outcome, as a poll reads it
    assert watcher is not None and (watcher.opened, watcher.fell_back, watcher.open) == (1, 0, 0)


async def test_a_stream_cut_mid_way_falls_back_to_polling_and_the_task_completes() -> None:
    clock = HeldClock()
    async with _client(clock) as (client, emulator):
        emulator.service.inject(Fault("cut", match="stream"))
        task = await client.submit("a cat")
        final, _ = await _wait_streamed(client, clock, task)
        watcher = client._backends.main.watcher
    assert final.state is TaskState.COMPLETED
    assert len(emulator.service.requests_of("stream")) == 1
    # The cut is noticed at once and the task polled at once: one poll finds it finished.
    assert len(emulator.service.requests_of("status")) == 1
    assert watcher is not None and (watcher.fell_back, watcher.open) == (1, 0)


async def test_a_refused_stream_falls_back_to_polling() -> None:
    clock = HeldClock()
    async with _client(clock) as (client, emulator):
        emulator.service.inject(Fault("503", match="stream"))
        task = await client.submit("a cat")
        result: dict[str, TaskStatus] = {}
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                result["final"] = await client.wait(task, timeout=None)

            group.start_soon(wait)
            with anyio.fail_after(REAL_BOUND):
                while "final" not in result:  # let time pass until a poll finds it done
                    clock.advance(60.0)
                    await anyio.sleep(0.01)  # real time: each poll crosses threads
    assert result["final"].state is TaskState.COMPLETED
    assert len(emulator.service.requests_of("stream")) == 1


@pytest.mark.parametrize(
    ("settings", "why"),
    [({"poll_budget": 1.0}, "budget"), ({"watch_streams": 1}, "cap")],
)
async def test_streams_count_against_the_budget_and_the_cap(
    settings: dict[str, Any], why: str
) -> None:
    clock = HeldClock()
    async with _client(clock, **settings) as (client, emulator):
        tasks = [await client.submit("a cat"), await client.submit("a dog")]
        watcher = client._backends.main.watcher
        assert watcher is not None
        async with anyio.create_task_group() as group:
            group.start_soon(client.wait_many, tasks)
            with anyio.fail_after(REAL_BOUND):
                while not emulator.service.requests_of("stream"):
                    await anyio.sleep(0.01)  # real time: the stream crosses threads
            # Both waits started at this same instant: the second found no room.
            assert (watcher.opened, watcher.open) == (1, 1)
            assert client.scheduler.requests == 1  # the stream, counted like a poll
            group.cancel_scope.cancel()
    assert len(emulator.service.requests_of("stream")) == 1, why


async def test_no_stream_is_opened_when_watch_streams_is_zero() -> None:
    clock = HeldClock()
    async with _client(clock, watch_streams=0) as (client, _):
        assert client._backends.main.watcher is None
