"""The prediction listing over real HTTP: the emulator's `GET /v1/predictions` as Replicate
serves it, and the provider walking it one request a page."""

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from videoprovider import RateLimited, TaskState, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.models import TaskPage
from videoprovider_replicate.emulator import Fault, RunningEmulator
from videoprovider_replicate.testing import TEST_TOKEN

pytestmark = pytest.mark.replicate_emulator(page_size=2, prediction_seconds=60)


@pytest.fixture
def api(replicate_emulator: RunningEmulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    with httpx.Client(base_url=replicate_emulator.base_url, headers=headers) as http:
        yield http


def create(api: httpx.Client, clock: VirtualClock, count: int, step: float = 60.0) -> list[str]:
    ids = []
    for _ in range(count):
        reply = api.post(
            "/models/wan-video/wan-2.5-t2v/predictions", json={"input": {"prompt": "a"}}
        )
        assert reply.status_code == 201
        ids.append(reply.json()["id"])
        clock.advance(step)
    return ids


def cursor_of(link: str) -> str:
    (cursor,) = parse_qs(urlsplit(link).query)["cursor"]
    return cursor


def test_the_emulator_lists_newest_first_a_page_at_a_time_with_cursor_links(
    api: httpx.Client, replicate_clock: VirtualClock, replicate_emulator: RunningEmulator
) -> None:
    ids = create(api, replicate_clock, 5)
    seen: list[dict[str, Any]] = []
    reply = api.get("/predictions").json()
    while True:
        assert set(reply) == {"next", "previous", "results"} and reply["previous"] is None
        assert len(reply["results"]) <= 2
        seen += reply["results"]
        if reply["next"] is None:
            break
        assert reply["next"].startswith(f"{replicate_emulator.base_url}/predictions?cursor=")
        # A Django REST framework cursor, as Replicate's links carry: base64 of "p=<position>".
        assert "p=" in base64.b64decode(cursor_of(reply["next"])).decode()
        reply = httpx.get(reply["next"], headers=api.headers).json()
    assert [r["id"] for r in seen] == ids[::-1]
    row = seen[0]
    assert row["status"] == "succeeded" and row["model"] == "wan-video/wan-2.5-t2v"
    assert {"created_at", "started_at", "completed_at", "urls", "version"} <= set(row)
    assert "logs" not in row


def test_the_emulator_filters_by_created_after_inclusive_and_created_before_exclusive(
    api: httpx.Client, replicate_clock: VirtualClock
) -> None:
    start = replicate_clock.now()
    ids = create(api, replicate_clock, 4)  # created at start + 0, 60, 120, 180 s
    stamp = (start + timedelta(seconds=60)).isoformat()
    until = (start + timedelta(seconds=180)).isoformat()
    query = {"created_after": stamp, "created_before": until}
    reply = api.get("/predictions", params=query).json()
    assert [r["id"] for r in reply["results"]] == [ids[2], ids[1]]
    assert reply["next"] is None
    assert api.get("/predictions", params={"created_after": "yesterday"}).status_code == 400


def test_the_emulator_pages_through_predictions_created_at_one_instant(
    api: httpx.Client, replicate_clock: VirtualClock
) -> None:
    # On a virtual clock many predictions share a created_at: the cursor's offset keeps the
    # pages apart, as Django REST framework's does.
    ids = create(api, replicate_clock, 5, step=0.0)
    seen, link = [], "/predictions"
    while link:
        reply = api.get(link).json()
        seen += [r["id"] for r in reply["results"]]
        link = reply["next"]
    assert seen == ids[::-1]
    assert api.get("/predictions", params={"cursor": "bm90LWEtY3Vyc29y"}).status_code == 404


def walk(client: VideoClient, since: datetime, until: datetime, **kw: Any) -> list[TaskPage]:
    backend = client.async_client._backends.main
    pages: list[TaskPage] = []
    token = None
    while True:
        args = {"since": since, "until": until, "model": None, "finished": False, "page": token}
        page = client._run(
            backend.invoke, "videoprovider_list_tasks", "list", TaskPage, None, **{**args, **kw}
        )
        pages.append(page)
        token = page.next_page
        if token is None:
            return pages


def test_the_provider_walks_the_listing_one_request_a_page_and_agrees_with_status(
    replicate_client: VideoClient,
    replicate_emulator: RunningEmulator,
    replicate_clock: VirtualClock,
) -> None:
    since = replicate_clock.now()
    tasks = [replicate_client.submit(f"cat {i}") for i in range(5)]
    replicate_client.wait(tasks[0])
    until = replicate_clock.now() + timedelta(minutes=1)
    before = len(replicate_emulator.service.requests_of("list"))
    pages = walk(replicate_client, since, until)
    assert len(replicate_emulator.service.requests_of("list")) - before == len(pages) == 3
    listed = [s for p in pages for s in p.statuses]
    assert sorted(s.task_id for s in listed) == sorted(t.task_id for t in tasks)
    for status in listed:
        assert status.provider == "replicate" and status.submitted_at is not None
        assert since <= status.submitted_at <= until
        assert status.state is TaskState.COMPLETED  # all ran 60 s while the first was awaited
        assert replicate_client.status(status.task_id).state is status.state


def test_a_throttled_listing_page_raises_after_one_request(
    replicate_client: VideoClient,
    replicate_emulator: RunningEmulator,
    replicate_clock: VirtualClock,
) -> None:
    replicate_emulator.service.inject(Fault("429", match="list", retry_after=12.0))
    now = replicate_clock.now()
    with pytest.raises(RateLimited) as info:
        walk(replicate_client, now - timedelta(hours=1), now)
    assert info.value.retry_after == 12.0
    assert len(replicate_emulator.service.requests_of("list")) == 1
