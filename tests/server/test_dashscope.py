"""A real provider behind the gateway: DashScope's emulator on 127.0.0.1, one clock for both.

The gateway maps OpenAI's `size` and `seconds` onto DashScope's fields, refuses what the
model does not offer before anything is sent, and keeps a task DashScope cannot cancel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from videoprovider.config import load_config
from videoprovider.server import create_app
from videoprovider.testing.clocks import HeldClock
from videoprovider_dashscope.emulator import Fault
from videoprovider_dashscope.testing import TEST_KEY

from .conftest import write_config

MODEL = "dashscope/wan2.5-t2v-preview"


@pytest.fixture
def dashscope_clock() -> HeldClock:
    return HeldClock()


@pytest.fixture
def gateway(
    tmp_path: Path, dashscope_emulator: Any, dashscope_clock: HeldClock
) -> Iterator[TestClient]:
    config = write_config(
        tmp_path,
        extra=(
            "download_allow_private = true\n"
            f'[dashscope]\napi_key = "{TEST_KEY}"\nbase_url = "{dashscope_emulator.base_url}"\n'
        ),
    )
    app = create_app(load_config(config=config), clock=dashscope_clock)
    with TestClient(app) as client:
        yield client


def test_size_and_seconds_reach_dashscope_in_its_own_fields(
    gateway: TestClient, dashscope_emulator: Any
) -> None:
    made = gateway.post(
        "/v1/videos",
        json={"model": MODEL, "prompt": "A lighthouse", "size": "1280x720", "seconds": "5"},
    )
    assert made.status_code == 200, made.text
    assert made.json()["status"] == "queued" and made.json()["size"] == "1280x720"
    (submit,) = dashscope_emulator.service.requests_of("submit")
    assert submit.body["parameters"]["size"] == "1280*720"
    assert submit.body["parameters"]["duration"] == 5


@pytest.mark.parametrize(("field", "value"), [("seconds", "7"), ("size", "1000x1000")])
def test_what_the_model_does_not_offer_is_refused_unsent(
    gateway: TestClient, dashscope_emulator: Any, field: str, value: str
) -> None:
    answer = gateway.post("/v1/videos", json={"model": MODEL, "prompt": "A cat", field: value})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == field
    assert dashscope_emulator.service.requests_of("submit") == []


def test_a_running_dashscope_task_cannot_be_deleted_and_is_kept(gateway: TestClient) -> None:
    made = gateway.post("/v1/videos", json={"model": MODEL, "prompt": "A cat"}).json()
    answer = gateway.delete(f"/v1/videos/{made['id']}")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "cancel_unsupported"
    assert gateway.get(f"/v1/videos/{made['id']}").status_code == 200


def run_to_end(gateway: TestClient, clock: HeldClock, video_id: str) -> dict[str, Any]:
    """Move the clock on in 5 s steps until the video ends; the video as it ended."""
    assert gateway.portal is not None
    for _ in range(1000):  # bounded by count, not by time
        gateway.portal.call(clock.advance, 5)
        video: dict[str, Any] = gateway.get(f"/v1/videos/{video_id}").json()
        if video["status"] in ("completed", "failed"):
            return video
    raise AssertionError(f"{video_id} did not end: {video}")


def test_a_dashscope_video_is_stored_when_it_completes(
    gateway: TestClient, dashscope_clock: HeldClock
) -> None:
    made = gateway.post("/v1/videos", json={"model": MODEL, "prompt": "A cat"}).json()
    video = run_to_end(gateway, dashscope_clock, made["id"])
    assert video["status"] == "completed", video
    content = gateway.get(f"/v1/videos/{made['id']}/content")
    assert content.status_code == 200 and content.content[4:8] == b"ftyp"


def test_a_paid_video_the_host_keeps_refusing_is_stored_once_it_answers(
    gateway: TestClient, dashscope_emulator: Any, dashscope_clock: HeldClock
) -> None:
    # Seven 503s from the video's host, more than the tries a lasting refusal gets: the
    # video is paid for, so the gateway keeps trying and never marks it failed.
    dashscope_emulator.service.inject(Fault("503", match="video", count=7))
    made = gateway.post("/v1/videos", json={"model": MODEL, "prompt": "A cat"}).json()
    video = run_to_end(gateway, dashscope_clock, made["id"])
    assert video["status"] == "completed", video
    assert len(dashscope_emulator.service.requests_of("video")) == 8
    # The host refused for a while; the URL stayed good: no fresh one asked for meanwhile.
    url_lookups = (("kind", "url"), ("provider", "dashscope"))
    assert scrape(gateway).get(("videoprovider_provider_requests_total", url_lookups), 0) == 0
    content = gateway.get(f"/v1/videos/{made['id']}/content")
    assert content.status_code == 200 and content.content[4:8] == b"ftyp"


def scrape(gateway: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = gateway.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_dashscope_requests_throttles_and_the_budget(
    gateway: TestClient, dashscope_emulator: Any, dashscope_clock: HeldClock
) -> None:
    made = gateway.post("/v1/videos", json={"model": MODEL, "prompt": "A cat"}).json()
    dashscope_emulator.service.inject(Fault("429", match="status", retry_after=20))
    video = run_to_end(gateway, dashscope_clock, made["id"])
    assert video["status"] == "completed", video
    assert gateway.portal is not None
    gateway.portal.call(dashscope_clock.advance, 5)  # past the last poll's second
    found = scrape(gateway)

    def requests(kind: str) -> float:
        key = (("kind", kind), ("provider", "dashscope"))
        return found.get(("videoprovider_provider_requests_total", key), 0)

    service = dashscope_emulator.service
    assert requests("submit") == len(service.requests_of("submit")) == 1
    # Every status request the emulator saw is counted, the throttled poll with the rest.
    # The video's URL came with the final status: no second lookup outside the budget
    # (one per video, which pushed accounts over 20 a second when many videos ended).
    assert requests("status") >= 2 and requests("url") == 0
    assert requests("status") == len(service.requests_of("status"))
    dashscope = (("provider", "dashscope"),)
    assert found["videoprovider_provider_throttled_total", dashscope] == 1
    assert found["videoprovider_budget_per_second", dashscope] == 20
    assert found["videoprovider_budget_in_use", dashscope] == 0
    assert all("task" not in dict(labels) for _, labels in found)
