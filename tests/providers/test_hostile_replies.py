"""Every reply and delivery parser returns a result or raises a VideoProviderError.

Arbitrary JSON and arbitrary bytes go through each provider's status, submit and listing
parsers, its webhook / event reader and the fake's task-id decoder: a TypeError,
RecursionError or KeyError escaping any of them would be a 500 in a host, or a task
reported as a timeout instead of its real fault.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from videoprovider import AsyncVideoClient, VideoRequest, VirtualClock
from videoprovider.errors import ProtocolError, VideoProviderError, WebhookRejected
from videoprovider_dashscope import events as ds_events
from videoprovider_dashscope import wire as ds_wire
from videoprovider_dashscope.settings import DashScopeSettings
from videoprovider_replicate import task_pages
from videoprovider_replicate import wire as rp_wire

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
DS_TASK = "0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2"
RP_TASK = "gm3qorzdhgbfurvjtvhg6dckhu"
REQUEST = VideoRequest(prompt="a cat")
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)
# Documents shaped like the replies, with any value where each field goes.
keys = st.sampled_from(
    ["id", "status", "output", "task_id", "task_status", "video_url", "code", "message",
     "request_id", "results", "next", "data", "tasks", "total_page", "created_at",
     "completed_at", "end_time", "usage", "metrics", "error", "logs", "specversion",
     "source", "type", "aliyunaccountid"]
)  # fmt: skip
shaped = st.recursive(
    json_values,
    lambda inner: st.dictionaries(keys, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=40,
)
documents = st.one_of(shaped, json_values).map(lambda v: json.dumps(v).encode())
payloads = st.one_of(documents, st.binary(max_size=200), st.just(DEEP), st.just(DEEP_OBJECT))
statuses = st.sampled_from([200, 201, 400, 404, 429, 500])


def reply(status: int, content: bytes) -> httpx.Response:
    return httpx.Response(status, content=content, request=httpx.Request("GET", "https://x/"))


def parsers(response: httpx.Response) -> list[Any]:
    return [
        lambda: ds_wire.parse_status(response, DS_TASK, NOW),
        lambda: ds_wire.parse_submit(response, REQUEST, NOW),
        lambda: ds_wire.parse_task_page(response, NOW),
        lambda: ds_wire.error_for(response, "status", DS_TASK),
        lambda: rp_wire.parse_status(response, RP_TASK, NOW),
        lambda: rp_wire.parse_submit(response, REQUEST, NOW),
        lambda: rp_wire.error_for(response, "status", RP_TASK),
        lambda: task_pages.parse_page(response, NOW, NOW.replace(year=2027), None, NOW),
        lambda: rp_wire.parse_delivery(response.content, NOW),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, content=payloads)
def test_every_reply_parser_returns_or_raises_a_videoprovider_error(
    status: int, content: bytes
) -> None:
    for parse in parsers(reply(status, content)):
        with contextlib.suppress(VideoProviderError):
            parse()


SETTINGS = DashScopeSettings(api_key="sk-test-0123456789", events_token="sk-test-events-01")


@settings(max_examples=150, deadline=None)
@given(content=payloads)
def test_every_event_reader_returns_or_refuses_with_400(content: bytes) -> None:
    headers = {"x-eventbridge-signature-token": "sk-test-events-01"}
    try:
        ds_events.read_event(headers, content, SETTINGS, NOW)
    except WebhookRejected as exc:
        assert exc.http_status == 400


@settings(max_examples=100, deadline=None)
@given(data=st.one_of(st.text(max_size=60), st.binary(max_size=60).map(bytes.hex)))
def test_fake_task_ids_decode_or_are_unknown(data: str) -> None:
    import base64

    from videoprovider_fake.provider import _decode

    deep = "fake-" + base64.urlsafe_b64encode(DEEP[:5000] + DEEP[-5000:]).decode().rstrip("=")
    for candidate in (data, deep):
        _decode(candidate)  # a result or None, never an exception


@pytest.mark.parametrize("status", [["succeeded"], {"x": 1}, 3, None])
def test_a_replicate_status_that_is_not_a_string_is_a_protocol_error(status: Any) -> None:
    body = json.dumps({"id": RP_TASK, "status": status}).encode()
    with pytest.raises(ProtocolError):
        rp_wire.parse_status(reply(200, body), RP_TASK, NOW)
    with pytest.raises(ProtocolError):
        rp_wire.parse_delivery(body, NOW)


def test_deeply_nested_replies_are_protocol_errors_not_recursion_errors() -> None:
    for content in (DEEP, DEEP_OBJECT, json.dumps({"id": RP_TASK, "output": [[[[[[]]]]]] * 2})
                    .encode().replace(b"[]", b"[" * 70 + b"]" * 70)):  # fmt: skip
        with pytest.raises(ProtocolError, match=r"not JSON|shape"):
            rp_wire.parse_status(reply(200, content), RP_TASK, NOW)
        with pytest.raises(ProtocolError):
            ds_wire.parse_status(reply(200, content), DS_TASK, NOW)


def test_a_status_of_another_task_is_a_protocol_error() -> None:
    other = json.dumps({"id": "zzzzzzzzzzzzzzzzzzzzzzzzzz", "status": "succeeded"}).encode()
    with pytest.raises(ProtocolError, match="another prediction"):
        rp_wire.parse_status(reply(200, other), RP_TASK, NOW)
    output = {"task_id": "11111111-2222-3333-4444-555555555555", "task_status": "RUNNING"}
    with pytest.raises(ProtocolError, match="another task"):
        ds_wire.parse_status(reply(200, json.dumps({"output": output}).encode()), DS_TASK, NOW)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://cdn.example.com/v.mp4",
        "ftp://cdn.example.com/v.mp4",
        "data:video/mp4;base64,AAAA",
        "https:///v.mp4",
    ],
)
def test_a_video_url_that_is_not_https_is_refused_when_parsed(url: str) -> None:
    output = {"task_id": DS_TASK, "task_status": "SUCCEEDED", "video_url": url}
    with pytest.raises(ProtocolError, match="https video_url"):
        ds_wire.parse_status(reply(200, json.dumps({"output": output}).encode()), DS_TASK, NOW)
    body = json.dumps({"id": RP_TASK, "status": "succeeded", "output": url}).encode()
    with pytest.raises(ProtocolError, match="https video URL"):
        rp_wire.parse_status(reply(200, body), RP_TASK, NOW)


def test_loopback_http_video_urls_stay_allowed_for_emulators() -> None:
    output = {"task_id": DS_TASK, "task_status": "SUCCEEDED", "video_url": "http://127.0.0.1:9/v"}
    status = ds_wire.parse_status(reply(200, json.dumps({"output": output}).encode()), DS_TASK, NOW)
    assert status.video_url == "http://127.0.0.1:9/v"


def test_as_completed_reports_a_malformed_status_as_its_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": RP_TASK, "status": ["succeeded"]})

    async def main() -> list[Any]:
        async with AsyncVideoClient(
            "replicate",
            config=False,
            environ={},
            clock=VirtualClock(),
            transport=httpx.MockTransport(handler),
            api_token="sk-test-0123456789abcdef",
            max_retries=0,
        ) as client:
            return [o async for o in client.as_completed([f"replicate:{RP_TASK}"], timeout=600)]

    (outcome,) = anyio.run(main)
    assert isinstance(outcome.error, ProtocolError), outcome.error
