"""`GET /v1/videos/{id}/events`: a video's changes as Server-Sent Events."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from .conftest import StartServer

pytest.importorskip("fastapi")


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The events of a stream, each as {"event", "id", "data"}."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if current:
                found.append(current)
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = json.loads(value) if name == "data" else value.strip()
    return found


def test_the_stream_follows_a_video_to_its_end(start_server: StartServer) -> None:
    url = start_server().url
    video = httpx.post(f"{url}/v1/videos", json={"prompt": "streamed"}).json()
    seen: list[dict[str, Any]] = []
    first = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{url}/v1/videos/{video['id']}/events", timeout=60) as r:
            current: dict[str, Any] = {}
            for line in r.iter_lines():
                if not line:
                    seen.append(current)
                    current = {}
                    first.set()
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = json.loads(value) if name == "data" else value.strip()
        first.set()

    listener = threading.Thread(target=listen)
    listener.start()
    assert first.wait(timeout=60)
    for _ in range(300):  # each look moves the gateway's clock; bounded by count
        if not listener.is_alive():
            break
        httpx.get(f"{url}/v1/videos/{video['id']}")
    listener.join(timeout=60)
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "video" and kinds[-1] == "end", kinds
    states = [e["data"]["status"] for e in seen if e["event"] == "video"]
    # Opening the stream moves the clock too, so the first event may already be in_progress.
    order = ["queued", "in_progress", "completed"]
    assert len(states) >= 2 and states[-1] == "completed", states
    assert [order.index(s) for s in states] == sorted(order.index(s) for s in states)
    ids = [int(e["id"]) for e in seen if e["event"] == "video"]
    assert ids == sorted(set(ids))


def test_last_event_id_resumes_without_replaying(start_server: StartServer) -> None:
    url = start_server().url
    video = httpx.post(f"{url}/v1/videos", json={"prompt": "resumed"}).json()
    for _ in range(200):
        if httpx.get(f"{url}/v1/videos/{video['id']}").json()["status"] == "completed":
            break
    stream = f"{url}/v1/videos/{video['id']}/events"
    with httpx.stream("GET", stream, timeout=60) as r:
        whole = events(r)
    assert [e["event"] for e in whole] == ["video", "end"]
    last = whole[0]["id"]
    with httpx.stream("GET", stream, headers={"Last-Event-ID": last}, timeout=60) as r:
        assert [e["event"] for e in events(r)] == ["end"]
    with httpx.stream("GET", stream, headers={"Last-Event-ID": "0"}, timeout=60) as r:
        again = events(r)
    assert again[0]["data"]["status"] == "completed"


def test_events_of_an_unknown_video_are_a_404(start_server: StartServer) -> None:
    url = start_server().url
    answer = httpx.get(f"{url}/v1/videos/video_nope/events")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "video_not_found"
