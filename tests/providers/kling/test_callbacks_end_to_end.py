"""Kling's callbacks end to end: the emulator POSTs each task's changes over real HTTP to
the core ASGI app (`videoprovider.webhooks.asgi_app`) on 127.0.0.1.

A callback is a notice: the genuine `succeed` one ends the wait after exactly one status
request; forged ones (a success for a task still running) change nothing, cost at most one
request per task per interval, and nothing for a task the journal does not know.
"""

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import AsyncVideoClient, TaskState
from videoprovider.testing.clocks import HeldClock
from videoprovider.webhooks import asgi_app
from videoprovider_kling.emulator import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    EmulatorConfig,
    KlingService,
    run_in_thread,
)

pytestmark = pytest.mark.anyio
# A task runs 40 s ("submitted" for the first 4). The first safety-net poll of a task is
# 45 s or more away, so only callbacks can end a wait before that.
TASK_SECONDS = 40.0
INTERVAL = 30.0  # the core's default notice_interval, which Kling keeps


@dataclass
class Served:
    client: AsyncVideoClient
    service: KlingService
    clock: HeldClock
    hook_url: str

    def queries(self) -> int:
        return len(self.service.requests_of("query"))

    async def settled(self, count: int) -> None:
        """Until the emulator has had `count` callbacks answered (real time, bounded)."""
        with anyio.fail_after(10):
            await anyio.to_thread.run_sync(self.service.callbacks.settled, count)

    async def queried(self, count: int) -> None:
        """Until the emulator has answered `count` queries: a wait's poll crosses threads."""
        with anyio.fail_after(10):
            while self.queries() < count:
                await anyio.sleep(0.01)


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    import uvicorn

    clock = HeldClock()
    listening = socket.create_server(("127.0.0.1", 0))
    hook_url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks/kling"
    config = EmulatorConfig(seconds={"t2v": TASK_SECONDS, "i2v": 90.0, "mi2v": 120.0})
    with run_in_thread(config, clock=clock) as emulator:
        async with AsyncVideoClient(
            "kling",
            config=False,
            environ={},
            clock=clock,
            journal=tmp_path / "journal.sqlite3",
            access_key=TEST_ACCESS_KEY,
            secret_key=TEST_SECRET_KEY,
            base_url=emulator.base_url,
            callback_url=hook_url,
        ) as client:
            server = uvicorn.Server(
                uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off")
            )
            async with anyio.create_task_group() as group:
                group.start_soon(partial(server.serve, sockets=[listening]))
                try:
                    yield Served(client, emulator.service, clock, hook_url)
                finally:
                    server.should_exit = True


def forged(service_id: str, external: str, updated_at: int) -> bytes:
    """A success for the task, with a video of the forger's, an id of its own each time."""
    task = {
        "task_id": service_id,
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {"external_task_id": external},
        "created_at": 1,
        "updated_at": updated_at,
        "task_result": {"videos": [{"id": "v", "url": "https://evil.test/x.mp4"}]},
    }
    return json.dumps(task).encode()


async def test_the_succeed_callback_ends_the_wait_after_one_status_request(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as s:
        task = await s.client.submit("a cat")
        result: dict[str, Any] = {}
        ended = anyio.Event()

        async def wait() -> None:
            result["status"] = await s.client.wait(task, timeout=3600)
            ended.set()

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            # "submitted", at once: a notice, confirmed by one query (it starts the interval).
            await s.settled(1)
            await s.queried(1)
            s.clock.advance(5.0)  # "processing", within the interval: no query
            await s.settled(2)
            before_succeed = s.queries()
            s.clock.advance(TASK_SECONDS + 1 - 5.0)  # "succeed", past the interval
            with anyio.fail_after(10):
                await ended.wait()
            sent = await anyio.to_thread.run_sync(s.service.callbacks.settled, 3)
        assert s.client.journal is not None
        entry = s.client.journal.get(task.task_id)
        ended_at = s.clock.monotonic()
    assert [c.state for c in sent] == ["submitted", "processing", "succeed"]
    assert all(c.answer == 200 for c in sent)
    assert before_succeed == 1  # the "processing" callback cost nothing
    assert s.queries() == before_succeed + 1  # the "succeed" one: exactly one query
    assert ended_at < 45.0  # ended by the callback, before any safety-net poll
    status = result["status"]
    assert status.state is TaskState.COMPLETED
    assert status.video_url and status.video_url.startswith(s.service.base_url)
    assert entry is not None and entry.state is TaskState.COMPLETED


async def test_forged_callbacks_change_nothing_and_cost_one_request_per_task_per_interval(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as s:
        task = await s.client.submit("a cat")
        service_id = task.task_id.removeprefix("t2v-")
        external = s.service.tasks[service_id].external_id or ""
        await s.settled(1)  # the genuine "submitted" callback: one query
        s.clock.advance(5.0)
        await s.settled(2)  # "processing": inside the interval, nothing
        queries = s.queries()
        async with httpx.AsyncClient() as http:

            async def flood(first: int) -> list[httpx.Response]:
                return [
                    await http.post(s.hook_url, content=forged(service_id, external, n))
                    for n in range(first, first + 10)
                ]

            inside = await flood(0)  # still inside the interval of the "submitted" one
            after_inside = s.queries()
            s.clock.advance(INTERVAL)  # t = 35: the task still runs (until 40)
            later = await flood(10)
            after_later = s.queries()
            strangers = [
                await http.post(s.hook_url, content=forged(f"9{n}", f"t2v-vp-{n}", n))
                for n in range(10)
            ]
        assert s.client.journal is not None
        entry = s.client.journal.get(task.task_id)
    assert queries == 1
    assert all(r.status_code == 200 and r.json() == {"replay": True} for r in inside)
    assert after_inside == queries  # nothing more inside the interval
    # Past it, the first forged one costs one query, whose answer is the truth; the rest
    # are replays.
    assert after_later == queries + 1
    assert later[0].json() == {"task": task.task_id, "state": "PROCESSING"}
    assert all(r.json() == {"replay": True} for r in later[1:])
    # A task the journal does not know costs nothing at all.
    assert s.queries() == after_later
    assert all(r.status_code == 200 for r in strangers)
    assert entry is not None and entry.state is TaskState.PROCESSING
