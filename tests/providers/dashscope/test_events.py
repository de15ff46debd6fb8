"""Reading DashScope's task-finished events: the token, the account, the CloudEvent's shape."""

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from videoprovider import AsyncVideoClient, TaskState, VideoClient, VirtualClock, WebhookRejected
from videoprovider_dashscope.emulator.events import DEFAULT_ACCOUNT_ID, event_body
from videoprovider_dashscope.events import read_event
from videoprovider_dashscope.settings import DashScopeSettings

from .conftest import KEY

TOKEN = "sk-test-events-0123456789"
GOOD = {"x-eventbridge-signature-token": TOKEN}
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
TASK = "0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2"


def settings(**kw: Any) -> DashScopeSettings:
    return DashScopeSettings(api_key=KEY, events_token=TOKEN, **kw)


def event(status: str = "SUCCEEDED", event_id: str = "ev-1", **changes: Any) -> bytes:
    _, body = event_body(
        TASK, status, NOW, NOW, published=NOW, account_id=DEFAULT_ACCOUNT_ID, event_id=event_id
    )
    doc = json.loads(body)
    doc.update(changes)
    return json.dumps(doc).encode()


def refused(headers: dict[str, str], body: bytes, **kw: Any) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as info:
        read_event(headers, body, settings(**kw), NOW)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    return info.value


def test_a_genuine_event_is_a_notice_of_the_task_state() -> None:
    delivery = read_event(GOOD, event("FAILED"), settings(), NOW)
    assert delivery.notice
    assert delivery.id == "acs.dashscope#ev-1"
    assert delivery.status.task_id == TASK
    assert delivery.status.state is TaskState.FAILED
    assert delivery.status.video_url is None


def test_a_forged_or_missing_token_is_refused_401_before_the_body_is_read() -> None:
    assert refused({"x-eventbridge-signature-token": "sk-test-forged-000000"}, event())
    forged = refused({"x-eventbridge-signature-token": TOKEN + "x"}, b"not even json")
    missing = refused({}, event())
    assert forged.http_status == missing.http_status == 401
    assert "x-eventbridge-signature-token" in missing.message


def test_the_token_header_is_configurable() -> None:
    header = {"x-videoprovider-token": TOKEN}
    assert read_event(header, event(), settings(events_header="X-Videoprovider-Token"), NOW)
    assert refused(GOOD, event(), events_header="x-videoprovider-token").http_status == 401


def test_events_are_refused_404_when_not_configured() -> None:
    with pytest.raises(WebhookRejected) as info:
        read_event(GOOD, event(), DashScopeSettings(api_key=KEY), NOW)
    assert info.value.http_status == 404 and "events_token" in (info.value.hint or "")


def test_another_accounts_event_is_refused_when_the_account_is_configured() -> None:
    assert read_event(GOOD, event(), settings(events_account_id=DEFAULT_ACCOUNT_ID), NOW)
    other = refused(GOOD, event(aliyunaccountid="2000000000000000"), events_account_id="1")
    assert other.http_status == 401 and "events_account_id" in (other.hint or "")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[" + event() + b"]", "array"),
        (event(source="acs.oss"), "source"),
        (event(type="dashscope:System:Other"), "type"),
        (event(specversion="0.3"), "specversion"),
        (event(id=""), "no id"),
        (event(data="[1]"), "data is not an object"),
        (event(data={"task_id": "../x", "task_status": "SUCCEEDED"}), "task_id"),
        (event(data={"task_id": TASK, "task_status": "DONE"}), "task_status"),
    ],
)
def test_a_malformed_event_is_refused_400_naming_what_is_wrong(body: bytes, why: str) -> None:
    info = refused(GOOD, body)
    assert info.http_status == 400 and why in info.message


def test_data_sent_as_json_text_is_read() -> None:
    doc = json.loads(event())
    body = json.dumps({**doc, "data": json.dumps(doc["data"])}).encode()
    assert read_event(GOOD, body, settings(), NOW).status.state is TaskState.COMPLETED


def test_the_token_setting_is_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match="events_token must be at least") as info:
        DashScopeSettings(api_key=KEY, events_token="short")
    assert "short" not in str(info.value)
    with pytest.raises(ValueError, match="events_header must be an HTTP header name"):
        DashScopeSettings(api_key=KEY, events_header="bad header:")
    assert TOKEN not in repr(settings()) and TOKEN not in str(settings().model_dump())


@pytest.mark.parametrize("configured", [True, False])
def test_configuring_events_makes_polling_a_slow_safety_net(configured: bool) -> None:
    extra = {"events_token": TOKEN} if configured else {}
    with VideoClient(
        "dashscope", config=False, environ={}, clock=VirtualClock(), api_key=KEY, **extra
    ) as client:
        policy = client.async_client.scheduler.policy
        report = json.dumps(client.settings_report(), default=str)
    assert (policy.min_interval >= 30.0) is configured
    assert TOKEN not in report and TOKEN not in repr(client)


@pytest.mark.anyio
async def test_a_duplicate_event_is_a_replay() -> None:
    import httpx

    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(request.url.path)
        output = {"task_id": TASK, "task_status": "SUCCEEDED", "video_url": "https://v/x.mp4"}
        return httpx.Response(200, json={"request_id": "r", "output": output})

    async with AsyncVideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=VirtualClock(),
        transport=httpx.MockTransport(handler),
        api_key=KEY,
        events_token=TOKEN,
    ) as client:
        first = await client.receive_webhook(GOOD, event())
        again = await client.receive_webhook(GOOD, event())
    assert first is not None and first.state is TaskState.COMPLETED and first.video_url
    assert again is None
    assert polls == [f"/api/v1/tasks/{TASK}"]  # the notice cost one status request, once
