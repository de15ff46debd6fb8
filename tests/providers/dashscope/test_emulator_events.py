"""The emulator's completion events: what it POSTs, doubled or dropped on request."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from typing import Any

import pytest

from videoprovider import VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.testing.emulator import Request, Response, base_url, in_thread, serve
from videoprovider_dashscope.emulator import EmulatorConfig, run_in_thread
from videoprovider_dashscope.events import read_event
from videoprovider_dashscope.settings import DashScopeSettings

from .conftest import KEY

TOKEN = "sk-test-events-0123456789"


@contextmanager
def receiver() -> Iterator[tuple[str, list[Request]]]:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent and answers 200."""
    received: list[Request] = []

    async def handle(request: Request) -> Response:
        received.append(request)
        return Response(200, b"{}", {"Content-Type": "application/json"})

    with in_thread(partial(serve, handle, "127.0.0.1", 0, None)) as server:
        yield base_url(server, "127.0.0.1", None) + "/hooks", received


def run_tasks(count: int, **events: Any) -> tuple[list[str], list[Request], Any]:
    clock = VirtualClock()
    with receiver() as (url, received):
        config = EmulatorConfig(
            api_keys=(KEY,), task_seconds=10.0, events_url=url, events_token=TOKEN, **events
        )
        with run_in_thread(config, clock=clock) as emulator:
            with VideoClient(
                "dashscope", config=False, environ={}, clock=clock, api_key=KEY,
                base_url=emulator.base_url,
            ) as client:  # fmt: skip
                ids = [
                    client.submit("a cat [[fail]]" if n else "a cat").task_id for n in range(count)
                ]
            clock.advance(11.0)
            sender = emulator.service.events
            assert sender is not None
            sender.settled(count * (2 if events.get("events_twice") else 1))
            stats = emulator.service.stats.as_dict() | {"events": sender.counts()}
    return ids, received, stats


def test_each_finished_task_is_announced_with_the_token_as_eventbridge_would() -> None:
    ids, received, stats = run_tasks(2)
    settings = DashScopeSettings(api_key=KEY, events_token=TOKEN)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    read = {}
    for request in received:
        assert request.method == "POST" and request.path == "/hooks"
        delivery = read_event(request.headers, request.body, settings, now)
        read[delivery.status.task_id] = delivery.status.state.value
    assert read == {ids[0]: "COMPLETED", ids[1]: "FAILED"}
    assert stats["events"] == {"sent": 2, "delivered": 2, "dropped": 0}


def test_events_can_be_delivered_twice_with_one_id() -> None:
    _, received, _ = run_tasks(1, events_twice=True)
    assert len(received) == 2 and received[0].body == received[1].body


def test_events_can_be_dropped() -> None:
    ids, received, stats = run_tasks(2, events_drop=1.0)
    assert received == [] and stats["events"]["dropped"] == 2 and len(ids) == 2


def test_events_wait_for_the_configured_delay() -> None:
    clock = VirtualClock()
    config = EmulatorConfig(api_keys=(KEY,), task_seconds=10.0, events_url="http://127.0.0.1:9")
    config.events_delay = 30.0
    with run_in_thread(config, clock=clock) as emulator:
        with VideoClient(
            "dashscope", config=False, environ={}, clock=clock, api_key=KEY,
            base_url=emulator.base_url,
        ) as client:  # fmt: skip
            client.submit("a cat")
        # Due 10 s (the task) + 30 s (the delay) from the submit, on the emulator's clock.
        assert [due for due, _ in emulator.service._ending] == [pytest.approx(40.0)]
