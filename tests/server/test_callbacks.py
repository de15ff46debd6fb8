"""Callbacks: the video object POSTed to the caller's URL when it ends, signed with the
Standard Webhooks scheme, retried with the same id, continued after a restart."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from videoprovider.config import load_config
from videoprovider.server import create_app
from videoprovider.server.store import Store
from videoprovider.testing.clocks import HeldClock
from videoprovider_replicate.webhooks import verify_webhook

from .conftest import write_config

SECRET = "whsec_" + base64.b64encode(b"sk-test-callback-signing-key-32b").decode()
RECEIVER = "http://127.0.0.1:9/hooks/video"


class Receiver:
    """A callback target: answers the statuses it is given in turn, records every POST."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.seen: list[httpx.Request] = []
        self.arrived = threading.Semaphore(0)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.arrived.release()
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def wait(self) -> None:
        # Deliveries run on the app's loop in another thread: wait for one, bounded.
        assert self.arrived.acquire(timeout=60), "no callback arrived"


@contextmanager
def gateway(
    tmp_path: Path, receiver: Receiver, server: str = ""
) -> Iterator[tuple[TestClient, HeldClock]]:
    config = write_config(
        tmp_path, f'callback_secret = "{SECRET}"\ncallback_allow_private = true\n{server}'
    )
    clock = HeldClock()
    app = create_app(
        load_config(config=config), clock=clock, callback_transport=httpx.MockTransport(receiver)
    )
    with TestClient(app) as client:
        yield client, clock


def advance(client: TestClient, clock: HeldClock, seconds: float) -> None:
    assert client.portal is not None
    client.portal.call(clock.advance, seconds)


def test_a_finished_video_is_posted_signed_and_retried_with_the_same_id(tmp_path: Path) -> None:
    receiver = Receiver(500, 200)
    with gateway(tmp_path, receiver) as (client, clock):
        video = client.post("/v1/videos", json={"prompt": "A cat", "callback_url": RECEIVER}).json()
        advance(client, clock, 10)  # the fake's task takes 3 s
        receiver.wait()
        advance(client, clock, 5)  # the first retry's backoff
        receiver.wait()
        for _ in range(1000):  # the delivery is recorded on the app's loop; bounded by count
            metrics = client.get("/metrics").text
            if 'videoprovider_gateway_callbacks{state="delivered"} 1.0' in metrics:
                break
        assert 'videoprovider_gateway_callbacks{state="delivered"} 1.0' in metrics
        assert 'videoprovider_tasks_total{provider="fake",state="completed"} 1.0' in metrics
    first, second = receiver.seen
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert str(second.url) == RECEIVER
    body = json.loads(second.content)
    assert body["type"] == "video.completed"
    assert body["data"]["id"] == video["id"] and body["data"]["status"] == "completed"
    stamp = float(second.headers["webhook-timestamp"])
    verify_webhook(second.content, dict(second.headers), SECRET, now=stamp)  # an independent check
    rows = Store(tmp_path / "gateway.sqlite3").callbacks(video["id"])
    assert [(r.attempts, r.last_error, r.delivered_ms is not None) for r in rows] == [
        (2, None, True)
    ]


def test_a_restart_continues_the_retries(tmp_path: Path) -> None:
    failing = Receiver(503)
    with gateway(tmp_path, failing) as (client, clock):
        client.post("/v1/videos", json={"prompt": "A cat", "callback_url": RECEIVER})
        advance(client, clock, 10)
        failing.wait()
    receiving = Receiver(200)
    with gateway(tmp_path, receiving) as (client, clock):
        advance(client, clock, 5)
        receiving.wait()
    assert receiving.seen[0].headers["webhook-id"] == failing.seen[0].headers["webhook-id"]


def test_a_private_target_is_refused_unless_allowed(tmp_path: Path) -> None:
    receiver = Receiver()
    config = write_config(tmp_path, f'callback_secret = "{SECRET}"\n')
    clock = HeldClock()
    app = create_app(
        load_config(config=config), clock=clock, callback_transport=httpx.MockTransport(receiver)
    )
    with TestClient(app) as client:
        video = client.post("/v1/videos", json={"prompt": "A cat", "callback_url": RECEIVER}).json()
        advance(client, clock, 10)
        store = Store(tmp_path / "gateway.sqlite3")
        for _ in range(1000):  # the refusal happens on the app's loop; look, bounded by count
            rows = store.callbacks(video["id"])
            if rows and rows[0].last_error:
                break
            client.get("/healthz")
    assert receiver.seen == []
    assert rows[0].attempts == 1 and "loopback" in (rows[0].last_error or "")


def test_a_callback_needs_the_operators_secret(tmp_path: Path) -> None:
    app = create_app(load_config(config=write_config(tmp_path)), clock=HeldClock())
    with TestClient(app) as client:
        answer = client.post("/v1/videos", json={"prompt": "A cat", "callback_url": RECEIVER})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "callback_url"
