"""At most one notice-prompted status request per task per interval (core/notices.py), for
every provider whose deliveries are notices: Kling's unsigned callbacks and DashScope's
EventBridge events, each delivery with an id of its own."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from videoprovider import TaskState, TaskStatus, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.errors import ConfigurationError
from videoprovider.notices import NoticeGate
from videoprovider.provider import Declaration, Operation, ProviderSettings
from videoprovider_dashscope.emulator import EmulatorConfig, run_in_thread
from videoprovider_dashscope.emulator.events import DEFAULT_ACCOUNT_ID, event_body
from videoprovider_kling.emulator import TEST_ACCESS_KEY, TEST_SECRET_KEY
from videoprovider_kling.emulator import run_in_thread as run_kling

KEY = "sk-test-notices-0123456789"
TOKEN = "sk-test-events-0123456789"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_gate_admits_one_request_per_task_per_interval() -> None:
    gate = NoticeGate()
    assert gate.admit("p", "a", 0.0, 30.0)
    assert not gate.admit("p", "a", 29.9, 30.0)
    assert gate.admit("p", "b", 29.9, 30.0)  # each task has its own interval
    assert gate.admit("q", "a", 29.9, 30.0)  # and each provider
    assert gate.admit("p", "a", 30.0, 30.0)
    assert not gate.admit("p", "a", 31.0, 30.0)
    gate.release("p", "a")  # the request failed: the sender's retry is let in
    assert gate.admit("p", "a", 31.0, 30.0)
    assert gate.admit("p", "c", 0.0, 0.0) and gate.admit("p", "c", 0.0, 0.0)  # 0: no cap


def test_the_gate_forgets_the_oldest_tasks_first() -> None:
    gate = NoticeGate(keep=2)
    for task in ("a", "b", "c"):
        assert gate.admit("p", task, 0.0, 30.0)
    assert gate.admit("p", "a", 1.0, 30.0)  # forgotten
    assert not gate.admit("p", "c", 1.0, 30.0)


@pytest.mark.parametrize("bad", [-1, "30", True])
def test_a_wrong_notice_interval_is_refused_at_load(bad: object) -> None:
    class Pushy:
        capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
        Settings = ProviderSettings
        notice_interval = bad

    with pytest.raises(ConfigurationError, match="notice_interval"):
        Declaration.of(Pushy, "pushy")
    Pushy.notice_interval = 5
    assert Declaration.of(Pushy, "pushy").notice_interval == 5
    del Pushy.notice_interval
    assert Declaration.of(Pushy, "pushy").notice_interval == 30.0  # the default


def _flood(client: VideoClient, bodies: list[bytes], headers: dict[str, str]) -> list[object]:
    return [client.receive_webhook(headers, body) for body in bodies]


def test_a_flood_of_dashscope_events_costs_one_request_per_task_per_interval(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    config = EmulatorConfig(api_keys=(KEY,), task_seconds=600.0)
    with run_in_thread(config, clock=clock) as emulator, VideoClient(
        "dashscope", config=False, environ={}, clock=clock, journal=str(tmp_path / "j.db"),
        api_key=KEY, base_url=emulator.base_url, events_token=TOKEN,
    ) as client:  # fmt: skip
        task = client.submit("a cat")
        service = emulator.service

        def events(first: int) -> list[bytes]:
            # Each claims the task succeeded, with an event id of its own: a token that
            # leaked lets anyone send these.
            return [
                event_body(
                    task.task_id, "SUCCEEDED", NOW, NOW, published=NOW,
                    account_id=DEFAULT_ACCOUNT_ID, event_id=f"ev-{n}",
                )[1]
                for n in range(first, first + 20)
            ]  # fmt: skip

        headers = {"x-eventbridge-signature-token": TOKEN}
        answers = _flood(client, events(0), headers)
        after_first = len(service.requests_of("status"))
        clock.advance(31)
        _flood(client, events(20), headers)
        after_second = len(service.requests_of("status"))
        assert client.journal is not None
        entry = client.journal.get(task.task_id)
    assert (after_first, after_second) == (1, 2)
    first = answers[0]
    # Only the status fetched counts: DashScope says the task is still on its way.
    assert isinstance(first, TaskStatus)
    assert first.state in (TaskState.PENDING, TaskState.PROCESSING)
    assert answers[1:] == [None] * 19  # answered as replays
    assert entry is not None and entry.state is not TaskState.COMPLETED


def test_a_flood_of_kling_callbacks_costs_one_request_per_task_per_interval(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    with run_kling(clock=clock) as emulator, VideoClient(
        "kling", config=False, environ={}, clock=clock, journal=str(tmp_path / "j.db"),
        access_key=TEST_ACCESS_KEY, secret_key=TEST_SECRET_KEY, base_url=emulator.base_url,
        callback_url="https://host.test/kling",
    ) as client:  # fmt: skip
        task = client.submit("a cat")
        service_id = task.task_id.removeprefix("t2v-")
        external = emulator.service.tasks[service_id].external_id

        def callbacks(first: int) -> list[bytes]:
            return [
                json.dumps({
                    "task_id": service_id, "task_status": "succeed", "updated_at": n,
                    "task_info": {"external_task_id": external},
                }).encode()
                for n in range(first, first + 20)
            ]  # fmt: skip

        before = len(emulator.service.requests_of("query"))
        _flood(client, callbacks(0), {})
        after_first = len(emulator.service.requests_of("query")) - before
        clock.advance(31)
        _flood(client, callbacks(20), {})
        after_second = len(emulator.service.requests_of("query")) - before
    assert (after_first, after_second) == (1, 2)
