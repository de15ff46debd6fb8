"""The prediction listing over MockTransport: one request a page, cursors only, the window."""

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import ConfigurationError, ProtocolError, RateLimited, RequestRejected
from videoprovider.models import TaskPage, TaskState
from videoprovider_replicate import task_pages

from .conftest import PID, MakeProvider, prediction

SINCE = datetime(2026, 1, 1, tzinfo=timezone.utc)
UNTIL = SINCE + timedelta(hours=1)
# A cursor as Replicate's `next` links carry it (Django REST framework: base64 of "p=...").
CURSOR = "cD0yMDI2LTAxLTAxKzAwJTNBMzAlM0EwMC4wMDAwMDAlMkIwMCUzQTAw"
VIDEO = "https://replicate.delivery/xezq/abc/output.mp4"


def row(pid: str, minute: int, status: str = "succeeded", **fields: Any) -> dict[str, Any]:
    done = {"output": VIDEO, "completed_at": f"2026-01-01T00:{minute:02d}:40Z"}
    base = {
        "id": pid,
        "model": "wan-video/wan-2.5-t2v",
        "version": "a" * 64,
        "created_at": f"2026-01-01T00:{minute:02d}:00.000000Z",
        **(done if status == "succeeded" else {}),
    }
    return prediction(status, **{**base, **fields})


def page(*rows: dict[str, Any], next: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"next": next, "previous": None, "results": list(rows)})


def list_tasks(provider: Any, page: str | None = None, **kw: Any) -> TaskPage:
    args = {"since": SINCE, "until": UNTIL, "model": None, "finished": False, "page": page}
    args.update(kw)

    async def call() -> TaskPage:
        result: TaskPage = await provider.videoprovider_list_tasks(**args)
        return result

    return anyio.run(call)


def test_a_page_is_one_get_with_the_window_as_created_after_and_before(
    make_provider: MakeProvider,
) -> None:
    provider, rec, _ = make_provider(page(row("aaa1", 30), row("aaa2", 10)))
    listed = list_tasks(provider)
    (sent,) = rec.requests
    assert (sent.method, sent.url.path) == ("GET", "/v1/predictions")
    assert dict(sent.url.params) == {
        "created_after": "2026-01-01T00:00:00.000000Z",
        "created_before": "2026-01-01T01:00:00.000000Z",
    }
    assert [s.task_id for s in listed.statuses] == ["aaa1", "aaa2"]
    assert listed.next_page is None
    first = listed.statuses[0]
    assert first.state is TaskState.COMPLETED and first.video_url == VIDEO
    assert first.submitted_at == datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc)


def test_the_next_link_is_never_followed_only_its_cursor_on_our_base_url(
    make_provider: MakeProvider,
) -> None:
    # A reply names the next page by a full URL; a link to another host must not receive
    # the token, so only its cursor is kept and the request is rebuilt on base_url.
    evil = f"https://collector.attacker.invalid/v1/predictions?cursor={CURSOR}&steal=1"
    provider, rec, _ = make_provider(page(row("aaa1", 40), next=evil), page(row("aaa2", 20)))
    first = list_tasks(provider)
    assert first.next_page == CURSOR
    second = list_tasks(provider, page=first.next_page)
    assert [s.task_id for s in second.statuses] == ["aaa2"]
    sent = rec.requests[1]
    assert sent.url.host == "api.replicate.com" and sent.url.path == "/v1/predictions"
    assert sent.url.params["cursor"] == CURSOR and "steal" not in sent.url.params
    assert sent.url.params["created_after"] == "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "2",
        "SUCCEEDED:2",
        f"https://api.replicate.com/v1/predictions?cursor={CURSOR}",
        "../../webhooks/default/secret",
        "cD0x\n",
        base64.b64encode(b"page=2").decode(),  # base64, but not a cursor's keys
        "!" * 40,
        "A" * 2000,
    ],
)
def test_a_foreign_page_token_is_refused_before_any_request(
    make_provider: MakeProvider, token: str
) -> None:
    provider, rec, _ = make_provider(page())
    with pytest.raises(ConfigurationError) as info:
        list_tasks(provider, page=token)
    assert "not a Replicate listing page token" in str(info.value)
    assert "next_page" in str(info.value)
    assert rec.requests == []


@pytest.mark.parametrize(
    "link",
    [
        "https://api.replicate.com/v1/predictions",
        "https://api.replicate.com/v1/predictions?cursor=not%20a%20cursor",
        42,
    ],
)
def test_a_next_link_without_a_usable_cursor_is_a_protocol_error(
    make_provider: MakeProvider, link: Any
) -> None:
    provider, _, _ = make_provider(page(row("aaa1", 30), next=link))
    with pytest.raises(ProtocolError, match="without a cursor"):
        list_tasks(provider)


def test_rows_outside_the_window_are_dropped_and_an_older_row_ends_the_walk(
    make_provider: MakeProvider,
) -> None:
    # A service that ignored created_after/created_before: still only the window comes back,
    # and since the list is newest first, nothing past a row older than `since` is asked for.
    late = prediction("starting", id="late1", created_at="2026-01-01T01:00:00Z")
    early = prediction("starting", id="early1", created_at="2025-12-31T23:59:59Z")
    provider, _, _ = make_provider(page(late, row("aaa1", 30), early, next=f"x?cursor={CURSOR}"))
    listed = list_tasks(provider)
    assert [s.task_id for s in listed.statuses] == ["aaa1"]
    assert listed.next_page is None


def test_model_filters_rows_by_name_and_version(make_provider: MakeProvider) -> None:
    other = row("bbb1", 20, model="acme/keyframes", version="5" * 64)
    pinned = "wan-video/wan-2.5-t2v:" + "a" * 64
    for model, expected in (
        ("wan-video/wan-2.5-t2v", ["aaa1"]),
        ("acme/keyframes", ["bbb1"]),
        (pinned, ["aaa1"]),
        ("acme/keyframes:" + "6" * 64, []),
    ):
        provider, _, _ = make_provider(page(row("aaa1", 30), other))
        listed = list_tasks(provider, model=model)
        assert [s.task_id for s in listed.statuses] == expected, model


def test_an_invalid_model_is_refused_before_any_request(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider(page())
    with pytest.raises(RequestRejected) as info:
        list_tasks(provider, model="not a model")
    assert info.value.field == "model" and info.value.operation == "list"
    assert rec.requests == []


def test_a_naive_window_is_refused_before_any_request(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider(page())
    with pytest.raises(ConfigurationError, match=r"since .* has no time zone"):
        list_tasks(provider, since=SINCE.replace(tzinfo=None))
    assert rec.requests == []


def test_rows_of_other_kinds_are_left_out_and_running_ones_kept_even_when_finished(
    make_provider: MakeProvider,
) -> None:
    text = row("ccc1", 50, output="hello Alice")  # a text model's prediction
    running = prediction("processing", id="ddd1", created_at="2026-01-01T00:40:00Z")
    removed = row("eee1", 5, output=None, data_removed=True)
    provider, _, _ = make_provider(page(text, running, row("aaa1", 30), removed, {"id": "X/"}))
    listed = list_tasks(provider, finished=True)
    assert [(s.task_id, s.state) for s in listed.statuses] == [
        ("ddd1", TaskState.PROCESSING),
        ("aaa1", TaskState.COMPLETED),
        ("eee1", TaskState.UNKNOWN),
    ]


def test_a_throttled_listing_raises_rate_limited_after_one_request(
    make_provider: MakeProvider,
) -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "throttled"})
    provider, rec, _ = make_provider(throttled)
    with pytest.raises(RateLimited) as info:
        list_tasks(provider)
    assert info.value.retry_after == 7.0 and len(rec.requests) == 1


def test_a_reply_without_results_is_a_protocol_error(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(httpx.Response(200, json={"detail": "?"}))
    with pytest.raises(ProtocolError, match="no results"):
        list_tasks(provider)


def test_a_cursor_is_recognised_by_its_decoded_keys() -> None:
    assert task_pages.is_cursor(CURSOR)
    assert task_pages.is_cursor(base64.b64encode(b"o=1&p=2026-01-01").decode())
    assert task_pages.is_cursor(base64.b64encode(b"r=1&p=x").decode())
    assert not task_pages.is_cursor(base64.b64encode(b"p=1&cursor=2").decode())
    assert not task_pages.is_cursor(PID)
