"""DashScope's completion events end to end: the emulator POSTs each task's CloudEvent over
real HTTP to the ASGI app on 127.0.0.1, and the waits end after one status request per task.

The emulator delivers every event twice, as EventBridge may: the second changes nothing.
"""

import socket
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import AsyncVideoClient, TaskState
from videoprovider.clock import VirtualClock
from videoprovider.testing.clocks import HeldClock
from videoprovider.webhooks import asgi_app
from videoprovider_dashscope.emulator import EmulatorConfig, run_in_thread

from .conftest import KEY

pytestmark = pytest.mark.anyio
TOKEN = "sk-test-events-0123456789"
TASKS = 3
HEADERS = {"x-eventbridge-signature-token": TOKEN}


async def test_events_end_the_waits_after_one_status_request_per_task(tmp_path: Path) -> None:
    import uvicorn

    clock = HeldClock()
    listening = socket.create_server(("127.0.0.1", 0))
    hook_url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks/dashscope"
    config = EmulatorConfig(
        api_keys=(KEY,), task_seconds=10.0, events_url=hook_url, events_token=TOKEN,
        events_twice=True,
    )  # fmt: skip
    with run_in_thread(config, clock=clock) as emulator:
        service = emulator.service
        async with AsyncVideoClient(
            "dashscope",
            config=False,
            environ={},
            clock=clock,
            journal=tmp_path / "journal.sqlite3",
            api_key=KEY,
            base_url=emulator.base_url,
            events_token=TOKEN,
        ) as client:
            server = uvicorn.Server(
                uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off")
            )
            outcomes: list[Any] = []
            async with anyio.create_task_group() as group:
                group.start_soon(partial(server.serve, sockets=[listening]))
                tasks = [await client.submit(f"a cat, take {n}") for n in range(TASKS)]
                done = anyio.Event()

                async def collect() -> None:
                    async for outcome in client.as_completed(tasks, timeout=3600):
                        outcomes.append(outcome)
                    done.set()

                group.start_soon(collect)
                await anyio.wait_all_tasks_blocked()  # every wait registered, none polled
                assert service.requests_of("status") == []
                # The tasks end at 10 s; a safety-net poll is 30 s or more away.
                clock.advance(12.0)
                with anyio.fail_after(10):  # real time, bounded: events cross threads
                    await done.wait()
                    sent = await anyio.to_thread.run_sync(service.events.settled, 2 * TASKS)
                    # Once more, after the waits ended, as a late redelivery would.
                    async with httpx.AsyncClient() as http:
                        late = [
                            await http.post(hook_url, content=s.body, headers=HEADERS) for s in sent
                        ]
                server.should_exit = True
            assert client.journal is not None
            entries = [client.journal.get(t.task_id) for t in tasks]
            scheduled = client.scheduler.requests
    polled = [r.path.rsplit("/", 1)[-1] for r in service.requests_of("status")]
    assert sorted(polled) == sorted(t.task_id for t in tasks)  # one each, no more
    assert scheduled == TASKS  # made by the scheduler, inside the account's budget
    assert [o.status.state for o in outcomes] == [TaskState.COMPLETED] * TASKS
    assert all(o.status.video_url for o in outcomes)
    assert all(e is not None and e.state is TaskState.COMPLETED for e in entries)
    assert len(sent) == 2 * TASKS and all(s.answer == 200 for s in sent)
    assert all(r.status_code == 200 and r.json() == {"replay": True} for r in late)


async def test_a_lost_event_delays_the_task_and_the_safety_net_polls_find_it() -> None:
    clock = VirtualClock()
    config = EmulatorConfig(
        api_keys=(KEY,), task_seconds=10.0, events_url="http://127.0.0.1:9/hooks",
        events_token=TOKEN, events_drop=1.0,
    )  # fmt: skip
    with run_in_thread(config, clock=clock) as emulator:
        async with AsyncVideoClient(
            "dashscope", config=False, environ={}, clock=clock, api_key=KEY,
            base_url=emulator.base_url, events_token=TOKEN,
        ) as client:  # fmt: skip
            task = await client.submit("a cat")
            status = await client.wait(task, timeout=3600)
            ended = clock.monotonic()
        sender = emulator.service.events
        assert sender is not None
        await anyio.to_thread.run_sync(sender.settled, 1)
    polls = emulator.service.requests_of("status")
    assert status.state is TaskState.COMPLETED and sender.dropped == [task.task_id]
    # Found by the slow safety net: within its longest interval, with a few polls.
    assert 10.0 < ended <= 10.0 + 300.0 and 1 <= len(polls) <= 8
