"""Gemini API project webhooks: signed deliveries end waits; forged, stale, replayed ones do not."""

import socket
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from videoprovider.client import AsyncVideoClient
from videoprovider.errors import ConfigurationError, WebhookRejected
from videoprovider.models import TaskState
from videoprovider.sync import VideoClient
from videoprovider.testing.clocks import HeldClock
from videoprovider.webhooks import asgi_app
from videoprovider_google.emulator import EmulatorConfig, RunningEmulator, run_in_thread
from videoprovider_google.emulator.webhooks import DEFAULT_SECRET, signed
from videoprovider_google.testing import TEST_KEY

pytestmark = pytest.mark.anyio
OMNI = "gemini-omni-1.1-flash"


@pytest.fixture
def held() -> HeldClock:
    return HeldClock()


@pytest.fixture
def emulator(held: HeldClock) -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(operation_seconds=10.0), clock=held) as running:
        yield running


@pytest.fixture
async def client(
    emulator: RunningEmulator, held: HeldClock, tmp_path: Path
) -> AsyncIterator[AsyncVideoClient]:
    async with AsyncVideoClient(
        "google",
        config=False,
        environ={},
        clock=held,
        journal=tmp_path / "journal.sqlite3",
        api_key=TEST_KEY,
        base_url=emulator.base_url,
        webhook_secret=DEFAULT_SECRET,
    ) as made:
        yield made


def _polls(emulator: RunningEmulator) -> list[Any]:
    return [r for r in emulator.service.requests if r.method == "GET"]


@pytest.mark.parametrize("model", ["veo-3.1-generate-preview", OMNI])
async def test_a_signed_delivery_ends_the_wait_with_one_status_fetch_and_no_poll_before(
    client: AsyncVideoClient, emulator: RunningEmulator, held: HeldClock, model: str
) -> None:
    task = await client.submit("a cat", model=model)
    result: dict[str, Any] = {}
    async with anyio.create_task_group() as group:

        async def wait() -> None:
            result["status"] = await client.wait(task, timeout=3600)

        group.start_soon(wait)
        await anyio.sleep(0)
        # The task ends at 10 s; with webhooks set, the first safety-net poll is 30 s away.
        held.advance(12.0)
        assert _polls(emulator) == []
        (delivery,) = emulator.service.webhook_deliveries()
        await client.receive_webhook(*delivery)
        with anyio.fail_after(10):  # real time, bounded: the fetch crosses threads
            while "status" not in result:
                await anyio.sleep(0.01)
    assert result["status"].state is TaskState.COMPLETED
    assert len(_polls(emulator)) == 1  # the notice's own fetch, nothing else
    assert client.journal is not None
    entry = client.journal.get(task.task_id)
    assert entry is not None and entry.state is TaskState.COMPLETED


async def test_forged_stale_and_malformed_deliveries_are_refused_and_fetch_nothing(
    client: AsyncVideoClient, emulator: RunningEmulator, held: HeldClock
) -> None:
    task = await client.submit("a cat")
    now = int(held.now().timestamp())
    forged = signed(
        "whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ==", "msg_1", now, "video.generated", task.task_id
    )
    stale = signed(DEFAULT_SECRET, "msg_2", now - 600, "video.generated", task.task_id)
    headers, body = signed(DEFAULT_SECRET, "msg_3", now, "video.generated", task.task_id)
    tampered = (headers, body.replace(b"video.generated", b"video.generatex"))
    unsigned = ({"webhook-id": "msg_4"}, body)
    nameless = signed(DEFAULT_SECRET, "msg_5", now, "video.generated", "not-a-task")
    for delivery, code in (
        (forged, 401),
        (stale, 401),
        (tampered, 401),
        (unsigned, 400),
        (nameless, 400),
    ):
        with pytest.raises(WebhookRejected) as info:
            await client.receive_webhook(*delivery)
        assert info.value.http_status == code
        assert DEFAULT_SECRET not in str(info.value)
    assert _polls(emulator) == []


async def test_a_replayed_delivery_changes_nothing(
    client: AsyncVideoClient, emulator: RunningEmulator, held: HeldClock
) -> None:
    task = await client.submit("a cat")
    held.advance(12.0)
    (delivery,) = emulator.service.webhook_deliveries()
    first = await client.receive_webhook(*delivery)
    assert first is not None and first.state is TaskState.COMPLETED
    polls = len(_polls(emulator))
    assert await client.receive_webhook(*delivery) is None
    assert len(_polls(emulator)) == polls
    assert client.journal is not None
    entry = client.journal.get(task.task_id)
    assert entry is not None and entry.state is TaskState.COMPLETED


def test_without_a_secret_deliveries_are_refused(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    task = google_client.submit("a cat")
    delivery = signed(DEFAULT_SECRET, "msg_1", 0, "video.generated", task.task_id)
    with pytest.raises(WebhookRejected, match="webhook_secret") as info:
        google_client.receive_webhook(*delivery)
    assert info.value.http_status == 404


def test_a_secret_that_is_not_whsec_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigurationError, match="webhook_secret"):
        VideoClient("google", config=False, environ={}, api_key=TEST_KEY, webhook_secret="hunter2")


async def test_deliveries_over_http_reach_the_asgi_app(
    client: AsyncVideoClient, emulator: RunningEmulator, held: HeldClock
) -> None:
    import uvicorn

    listening = socket.create_server(("127.0.0.1", 0))
    hook_url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks/google"
    server = uvicorn.Server(uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(partial(server.serve, sockets=[listening]))
        task = await client.submit("a cat")
        held.advance(12.0)
        ((headers, body),) = emulator.service.webhook_deliveries()
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(10):  # real time, bounded: the server runs on this loop
                while not server.started:
                    await anyio.sleep(0.01)
                forged = await http.post(
                    hook_url, content=body, headers={**headers, "webhook-signature": "v1,AAAA"}
                )
                genuine = await http.post(hook_url, content=body, headers=headers)
                replayed = await http.post(hook_url, content=body, headers=headers)
        server.should_exit = True
    assert forged.status_code == 401
    assert genuine.status_code == 200
    assert genuine.json() == {"task": task.task_id, "state": "COMPLETED"}
    assert replayed.json() == {"replay": True}
    assert len(_polls(emulator)) == 1
