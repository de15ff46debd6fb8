"""Pushed updates: a verified delivery ends a wait without polling; a forged one changes
nothing; the ASGI app answers senders over real HTTP."""

import json
import socket
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import (
    AsyncVideoClient,
    TaskState,
    VideoClient,
    VirtualClock,
    WebhookRejected,
    hookimpl,
)
from videoprovider.webhooks import SeenDeliveries, asgi_app

PUSHY = """
import json

import anyio

from videoprovider.plugin import (
    Operation, ProviderSettings, ProviderUnavailable, Task, TaskState, TaskStatus,
    WebhookDelivery, WebhookRejected, hookimpl,
)

LIVE = {}


class Settings(ProviderSettings):
    pass


class Pushy:
    '''Tasks never finish by polling; only a delivery signed "good" says they did.'''

    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
    unsupported = {Operation.CANCEL: "Pushy tasks cannot be stopped."}
    Settings = Settings
    pushes_updates = True

    def __init__(self, settings, context):
        self.name = context.name
        self.polls = 0
        self.second_poll = anyio.Event()
        self.release = anyio.Event()
        LIVE["provider"] = self

    @hookimpl
    async def videoprovider_submit(self, request):
        return Task(provider=self.name, task_id="p1", request=request)

    @hookimpl
    async def videoprovider_status(self, task_id):
        self.polls += 1
        if self.polls == 2 and not LIVE.get("notices"):  # park the wait in its second poll
            self.second_poll.set()
            await self.release.wait()
        if LIVE.get("down"):
            raise ProviderUnavailable("pushy is down")
        state = TaskState(LIVE.get("state", "PROCESSING"))
        return TaskStatus(provider=self.name, task_id=task_id, state=state)

    @hookimpl
    async def videoprovider_webhook(self, headers, body):
        if headers.get("x-pushy-token") != "good":
            raise WebhookRejected("bad token", http_status=401)
        try:
            doc = json.loads(body)
            status = TaskStatus(
                provider=self.name, task_id=doc["task"], state=TaskState(doc["state"])
            )
        except (ValueError, KeyError) as exc:
            raise WebhookRejected(f"unreadable delivery: {exc}", http_status=400) from None
        return WebhookDelivery(id=doc["id"], status=status, notice=doc.get("notice", False))
"""

GOOD = {"X-Pushy-Token": "good"}


def delivery(state: str = "COMPLETED", delivery_id: str = "d1", notice: bool = False) -> bytes:
    return json.dumps({"id": delivery_id, "task": "p1", "state": state, "notice": notice}).encode()


@pytest.fixture
def pushy(install_dist: Any) -> ModuleType:
    import importlib

    install_dist(
        "pushy-video",
        {"pushy_video": PUSHY},
        {"videoprovider.providers": {"pushy": "pushy_video:Pushy"}},
    )
    return importlib.import_module("pushy_video")


def make_client(tmp_path: Path, **kw: Any) -> AsyncVideoClient:
    return AsyncVideoClient(
        "pushy", config=False, environ={}, clock=VirtualClock(), journal=tmp_path / "j.db", **kw
    )


@pytest.mark.anyio
async def test_a_delivery_ends_a_wait_without_another_poll(
    pushy: ModuleType, tmp_path: Path
) -> None:
    async with make_client(tmp_path) as client:
        task = await client.submit("a cat")
        provider = pushy.LIVE["provider"]
        result: dict[str, Any] = {}

        async def wait() -> None:
            result["status"] = await client.wait(task, timeout=3600)

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await provider.second_poll.wait()
            status = await client.receive_webhook(GOOD, delivery())
            provider.release.set()  # the parked poll's PROCESSING must not undo the push
        assert status is not None and status.state is TaskState.COMPLETED
        assert result["status"].state is TaskState.COMPLETED
        assert provider.polls == 2
        assert client.journal is not None
        entry = client.journal.get("p1")
        assert entry is not None and entry.state is TaskState.COMPLETED


@pytest.mark.anyio
async def test_a_replay_or_a_forgery_changes_nothing(pushy: ModuleType, tmp_path: Path) -> None:
    async with make_client(tmp_path) as client:
        await client.submit("a cat")
        assert (await client.receive_webhook(GOOD, delivery("PROCESSING"))) is not None
        assert await client.receive_webhook(GOOD, delivery("COMPLETED")) is None  # same id
        with pytest.raises(WebhookRejected) as forged:
            await client.receive_webhook({"x-pushy-token": "evil"}, delivery("FAILED", "d2"))
        assert forged.value.http_status == 401
        with pytest.raises(WebhookRejected) as broken:
            await client.receive_webhook(GOOD, b"{not json")
        assert broken.value.http_status == 400
        assert client.journal is not None
        entry = client.journal.get("p1")
        assert entry is not None and entry.state is TaskState.PROCESSING


def test_without_a_wait_host_plugins_hear_of_the_delivery(
    pushy: ModuleType, tmp_path: Path
) -> None:
    heard: list[str] = []

    class Host:
        @hookimpl
        def videoprovider_task_updated(self, task: Any, status: Any, previous: Any) -> None:
            heard.append(f"updated {status.state.value}")

        @hookimpl
        def videoprovider_task_finished(self, task: Any, status: Any, path: Any) -> None:
            heard.append(f"finished {status.state.value}")

    with VideoClient(
        "pushy", config=False, environ={}, clock=VirtualClock(), journal=False, plugins=[Host()]
    ) as client:
        client.submit("a cat")
        client.receive_webhook(GOOD, delivery())
    assert heard == ["updated COMPLETED", "finished COMPLETED"]


def test_a_provider_that_takes_no_deliveries_answers_404() -> None:
    with (
        VideoClient("fake", config=False, environ={}) as client,
        pytest.raises(WebhookRejected) as info,
    ):
        client.receive_webhook({}, b"{}")
    assert info.value.http_status == 404


def test_pushed_updates_make_polling_a_slow_safety_net(pushy: ModuleType, tmp_path: Path) -> None:
    with VideoClient("pushy", config=False, environ={}, journal=False) as client:
        policy = client.async_client.scheduler.policy
    assert policy.min_interval >= 30.0 and policy.max_interval >= 300.0


def test_seen_deliveries_are_bounded() -> None:
    seen = SeenDeliveries(keep=2)
    assert seen.first_time("p", "a") and seen.first_time("p", "b")
    assert not seen.first_time("p", "a")
    assert seen.first_time("p", "c")  # forgets the oldest
    assert seen.first_time("p", "a")


@pytest.mark.anyio
async def test_the_asgi_app_answers_senders_over_real_http(
    pushy: ModuleType, tmp_path: Path
) -> None:
    import uvicorn

    async with make_client(tmp_path) as client:
        await client.submit("a cat")
        config = uvicorn.Config(
            asgi_app(client, max_body=4096), host="127.0.0.1", port=0, log_level="warning"
        )
        server = uvicorn.Server(config)
        # A socket already listening: requests queue in its backlog until the server
        # accepts them, so nothing waits for the server to come up.
        listening = socket.create_server(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        async with anyio.create_task_group() as group:
            group.start_soon(partial(server.serve, sockets=[listening]))
            url = f"http://127.0.0.1:{port}/hooks/pushy"
            async with httpx.AsyncClient() as http:
                forged = await http.post(url, content=delivery(), headers={"x-pushy-token": "x"})
                good = await http.post(url, content=delivery(), headers=GOOD)
                replay = await http.post(url, content=delivery(), headers=GOOD)
                wrong_method = await http.get(url)
                too_big = await http.post(url, content=b"x" * 5000, headers=GOOD)
            server.should_exit = True
    assert forged.status_code == 401 and "bad token" in forged.json()["error"]
    assert good.status_code == 200 and good.json() == {"task": "p1", "state": "COMPLETED"}
    assert replay.status_code == 200 and replay.json() == {"replay": True}
    assert wrong_method.status_code == 405
    assert too_big.status_code == 413


def test_a_notice_nobody_waits_on_costs_one_status_request_and_ends_a_later_wait(
    pushy: ModuleType, tmp_path: Path
) -> None:
    heard: list[str] = []

    class Host:
        @hookimpl
        def videoprovider_task_finished(self, task: Any, status: Any, path: Any) -> None:
            heard.append(status.state.value)

    with VideoClient(
        "pushy",
        config=False,
        environ={},
        clock=VirtualClock(),
        journal=tmp_path / "j.db",
        plugins=[Host()],
    ) as client:
        task = client.submit("a cat")
        provider = pushy.LIVE["provider"]
        pushy.LIVE.update(notices=True, state="COMPLETED")
        # The notice says FAILED; the status fetched says COMPLETED: the fetched one counts.
        status = client.receive_webhook(GOOD, delivery("FAILED", notice=True))
        replay = client.receive_webhook(GOOD, delivery("FAILED", notice=True))
        assert provider.polls == 1 and heard == ["COMPLETED"]
        final = client.wait(task, timeout=3600)
        assert client.journal is not None
        entry = client.journal.get("p1")
    assert status is not None and status.state is TaskState.COMPLETED
    assert replay is None
    assert final.state is TaskState.COMPLETED and provider.polls == 1
    assert entry is not None and entry.state is TaskState.COMPLETED


@pytest.mark.anyio
async def test_a_notice_whose_status_cannot_be_fetched_is_answered_503_and_taken_again(
    pushy: ModuleType, tmp_path: Path
) -> None:
    async with make_client(tmp_path) as client:
        await client.submit("a cat")
        pushy.LIVE.update(notices=True, down=True, state="COMPLETED")
        transport = httpx.ASGITransport(app=asgi_app(client))
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as http:
            down = await http.post("/hooks", content=delivery(notice=True), headers=GOOD)
            pushy.LIVE["down"] = False
            retried = await http.post("/hooks", content=delivery(notice=True), headers=GOOD)
    assert down.status_code == 503 and "pushy is down" in down.json()["error"]
    assert retried.status_code == 200 and retried.json() == {"task": "p1", "state": "COMPLETED"}


def test_a_notice_of_a_task_the_journal_does_not_know_costs_no_request(
    pushy: ModuleType, tmp_path: Path
) -> None:
    # EventBridge forwards the events of every task of the account, other programs' too.
    with VideoClient(
        "pushy", config=False, environ={}, clock=VirtualClock(), journal=tmp_path / "j.db"
    ) as client:
        provider = pushy.LIVE["provider"]
        pushy.LIVE.update(notices=True, state="COMPLETED")
        status = client.receive_webhook(GOOD, delivery("COMPLETED", notice=True))
        assert client.journal is not None and client.journal.get("p1") is None
    assert status is not None and provider.polls == 0


class Served:
    """`app` on uvicorn on a loopback port, for the duration of an `async with`."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        )
        # Already listening: connections queue in its backlog until the server accepts them.
        self.listening = socket.create_server(("127.0.0.1", 0))
        self.port = self.listening.getsockname()[1]

    async def stalled(self, sent: bytes = b'{"id": "d1"') -> anyio.abc.SocketStream:
        """A connection that sent its headers and part of its body, then stopped."""
        stream = await anyio.connect_tcp("127.0.0.1", self.port)
        head = (
            "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n"
        )
        await stream.send(head.encode() + sent)
        return stream


async def read_reply(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    with anyio.fail_after(30):  # bounds the test only; the app's deadline decides the reply
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
    return data


@pytest.mark.anyio
async def test_a_body_that_stalls_is_answered_408_after_the_deadline(
    pushy: ModuleType, tmp_path: Path
) -> None:
    async with make_client(tmp_path) as client:
        app = asgi_app(client, body_timeout=0.2)
        served = Served(app)
        async with anyio.create_task_group() as group:
            group.start_soon(partial(served.server.serve, sockets=[served.listening]))
            streams = [await served.stalled() for _ in range(5)]
            replies = [await read_reply(s) for s in streams]
            for s in streams:
                await s.aclose()
            served.server.should_exit = True
    assert all(r.startswith(b"HTTP/1.1 408") for r in replies), replies
    assert app.reading == 0


@pytest.mark.anyio
async def test_bodies_past_the_cap_are_refused_503_at_once_and_the_rest_still_served(
    pushy: ModuleType, tmp_path: Path
) -> None:
    async with make_client(tmp_path) as client:
        app = asgi_app(client, body_timeout=300, max_pending=2)
        served = Served(app)
        async with anyio.create_task_group() as group:
            group.start_soon(partial(served.server.serve, sockets=[served.listening]))
            held = [await served.stalled(), await served.stalled()]
            with anyio.fail_after(30):
                while app.reading < 2:  # both bodies are being read: the cap is reached
                    await anyio.sleep(0.01)
            async with httpx.AsyncClient() as http:
                url = f"http://127.0.0.1:{served.port}/hooks"
                refused = await http.post(url, content=delivery(), headers=GOOD)
                for stream in held:  # the held bodies arrive after all (unsigned: 401)
                    await stream.send(b" " * (100 - len(b'{"id": "d1"')))
                answers = [await read_reply(s) for s in held]
                after = await http.post(url, content=delivery(), headers=GOOD)
            for stream in held:
                await stream.aclose()
            served.server.should_exit = True
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert all(a.startswith(b"HTTP/1.1 401") for a in answers), answers
    assert after.status_code == 200 and app.reading == 0
