"""Kling's callbacks are unsigned: each is a notice, confirmed by one status request."""

import json
from pathlib import Path

import pytest

from videoprovider import TaskState, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.errors import WebhookRejected
from videoprovider_kling.emulator import RunningEmulator

from .conftest import MakeClient


def forged(task_id: str, external: str, state: str = "succeed", at: int = 1) -> bytes:
    task = {
        "task_id": task_id,
        "task_status": state,
        "task_status_msg": "",
        "task_info": {"external_task_id": external},
        "created_at": 1,
        "updated_at": at,
        "task_result": {"videos": [{"id": "v", "url": "https://evil.test/x.mp4"}]},
    }
    return json.dumps(task).encode()


@pytest.fixture
def journaled(make_client: MakeClient, tmp_path: Path) -> VideoClient:
    return make_client(callback_url="https://host.test/kling", journal=str(tmp_path / "j.db"))


def test_a_forged_callback_for_an_unknown_task_costs_nothing(
    journaled: VideoClient, kling_emulator: RunningEmulator
) -> None:
    with journaled as client:
        for n in range(20):
            client.receive_webhook({}, forged(f"9{n}", f"t2v-vp-{n}", at=n))
    assert kling_emulator.service.requests == []


def test_a_forged_success_changes_nothing_by_itself(
    journaled: VideoClient, kling_emulator: RunningEmulator
) -> None:
    with journaled as client:
        task = client.submit("a cat")
        assert client.journal is not None
        service_id = task.task_id.removeprefix("t2v-")
        external = kling_emulator.service.tasks[service_id].external_id or ""
        before = len(kling_emulator.service.requests)
        status = client.receive_webhook({}, forged(service_id, external))
        # One status request confirmed it, and Kling says the task is still pending.
        assert len(kling_emulator.service.requests) == before + 1
        assert status is not None and status.state is TaskState.PENDING
        assert status.video_url is None
        entry = client.journal.get(task.task_id)
        assert entry is not None and entry.state is not TaskState.COMPLETED
        # The same forged body again is a replay: no request at all.
        client.receive_webhook({}, forged(service_id, external))
        assert len(kling_emulator.service.requests) == before + 1


def test_a_flood_of_forged_callbacks_costs_one_request_per_task_per_interval(
    journaled: VideoClient, kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    with journaled as client:
        task = client.submit("a cat")
        service_id = task.task_id.removeprefix("t2v-")
        external = kling_emulator.service.tasks[service_id].external_id or ""
        before = len(kling_emulator.service.requests)
        for n in range(50):
            client.receive_webhook({}, forged(service_id, external, at=n))
        assert len(kling_emulator.service.requests) == before + 1
        kling_clock.advance(31)
        for n in range(50, 100):
            client.receive_webhook({}, forged(service_id, external, at=n))
        assert len(kling_emulator.service.requests) == before + 2


def test_the_create_names_the_callback_url(
    journaled: VideoClient, kling_emulator: RunningEmulator
) -> None:
    with journaled as client:
        client.submit("a cat")
    [create] = kling_emulator.service.requests_of("create")
    assert create.body["callback_url"] == "https://host.test/kling"


def test_a_real_callback_body_is_read_as_a_notice(
    journaled: VideoClient, kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    with journaled as client:
        task = client.submit("a cat")
        kling_clock.advance(120)
        service = kling_emulator.service
        emu_task = service.tasks[task.task_id.removeprefix("t2v-")]
        body = json.dumps(service._view(emu_task, kling_clock.monotonic())).encode()
        status = client.receive_webhook({}, body)
    assert status is not None and status.state is TaskState.COMPLETED
    assert status.video_url and status.video_url.startswith(kling_emulator.base_url)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"task_id": "1", "task_status": "succeed"}).encode()],
)
def test_a_callback_naming_no_task_of_ours_is_refused(journaled: VideoClient, body: bytes) -> None:
    with journaled as client, pytest.raises(WebhookRejected) as caught:
        client.receive_webhook({}, body)
    assert caught.value.http_status == 400


def test_the_emulator_posts_unsigned_callbacks_on_each_change(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock, make_client: MakeClient
) -> None:
    from functools import partial

    from videoprovider.testing.emulator import Request, Response, base_url, in_thread, serve

    received: list[bytes] = []

    async def receiver(request: Request) -> Response:
        received.append(request.body)
        return Response(200, b"{}")

    with in_thread(partial(serve, receiver, "127.0.0.1", 0), name="receiver") as server:
        url = base_url(server, "127.0.0.1", None)
        with make_client(callback_url=url) as client:
            client.submit("a cat")
            callbacks = kling_emulator.service.callbacks
            callbacks.settled(1)
            kling_clock.advance(10)  # past the 10 % of its minute spent "submitted"
            callbacks.settled(2)
            kling_clock.advance(120)
            sent = callbacks.settled(3)
    assert [c.state for c in sent] == ["submitted", "processing", "succeed"]
    assert all(c.answer == 200 for c in sent)
    assert json.loads(received[-1])["task_status"] == "succeed"
