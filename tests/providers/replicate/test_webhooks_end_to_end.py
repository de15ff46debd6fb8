"""Replicate pushes, the host receives: emulator → real HTTP → the ASGI app → the client.

A wait on a prediction ends when the signed `completed` delivery arrives, with no status
poll at all; a forged delivery is refused and changes nothing.
"""

import socket
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import AsyncVideoClient, TaskState
from videoprovider.testing.clocks import HeldClock
from videoprovider.webhooks import asgi_app
from videoprovider_replicate.emulator import EmulatorConfig, run_in_thread
from videoprovider_replicate.testing import TEST_TOKEN

pytestmark = pytest.mark.anyio


async def test_a_pushed_completion_ends_the_wait_without_a_poll(tmp_path: Path) -> None:
    import uvicorn

    clock = HeldClock()
    listening = socket.create_server(("127.0.0.1", 0))
    hook_url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks/replicate"
    config = EmulatorConfig(api_tokens=(TEST_TOKEN,), prediction_seconds=10.0)
    with run_in_thread(config, clock=clock) as emulator:
        async with AsyncVideoClient(
            "replicate",
            config=False,
            environ={},
            clock=clock,
            journal=tmp_path / "journal.sqlite3",
            api_token=TEST_TOKEN,
            base_url=emulator.base_url,
            schema_cache_dir="",
            webhook_url=hook_url,
        ) as client:
            server = uvicorn.Server(
                uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off")
            )
            result: dict[str, Any] = {}
            async with anyio.create_task_group() as group:
                group.start_soon(partial(server.serve, sockets=[listening]))
                task = await client.submit("a cat", duration=5)
                polls_before = len(_polls(emulator.service))

                ended = anyio.Event()

                async def wait() -> None:
                    result["status"] = await client.wait(task, timeout=3600)
                    ended.set()

                group.start_soon(wait)
                async with httpx.AsyncClient() as http:
                    forged = await http.post(
                        hook_url,
                        content=b'{"id": "%s", "status": "failed"}' % task.task_id.encode(),
                        headers={
                            "webhook-id": "msg_forged",
                            "webhook-timestamp": str(int(clock.now().timestamp())),
                            "webhook-signature": "v1,bm90LWEtc2lnbmF0dXJl",
                        },
                    )
                # The prediction ends at 10 s; the first safety-net poll is 30 s away.
                clock.advance(12.0)
                with anyio.fail_after(10):  # real time, bounded: delivery crosses threads
                    await ended.wait()
                server.should_exit = True
            assert client.journal is not None
            entry = client.journal.get(task.task_id)
    assert forged.status_code == 401
    assert result["status"].state is TaskState.COMPLETED
    assert len(_polls(emulator.service)) == polls_before == 0
    assert entry is not None and entry.state is TaskState.COMPLETED


def _polls(service: Any) -> list[Any]:
    return [r for r in service.requests if r.method == "GET" and "/predictions/" in r.path]
