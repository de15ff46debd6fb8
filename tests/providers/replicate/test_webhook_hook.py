"""The provider's webhook side: submit asks for deliveries, the hook verifies and reads them."""

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import anyio
import httpx
import pytest

from videoprovider import VideoRequest
from videoprovider.errors import ProviderUnavailable, VideoProviderError, WebhookRejected
from videoprovider.models import TaskState, WebhookDelivery
from videoprovider_replicate.emulator.webhooks import DEFAULT_SECRET, Deliverer
from videoprovider_replicate.provider import ReplicateProvider

from .conftest import PID, MakeProvider, prediction

HOOK = "https://host.example/replicate-hook"
OTHER_SECRET = "whsec_" + base64.b64encode(b"sk-test-some-other-key").decode()
SUCCEEDED = prediction(
    "succeeded",
    output="https://replicate.delivery/xezq/abc/output.mp4",
    completed_at="2026-01-01T00:01:00Z",
)


def deliver(provider: ReplicateProvider, headers: dict[str, str], body: bytes) -> WebhookDelivery:
    async def call() -> WebhookDelivery:
        return await provider.videoprovider_webhook(headers=headers, body=body)

    return anyio.run(call)


def signed(
    body: bytes, stamp: int, secret: str = DEFAULT_SECRET, msg_id: str = "msg_1"
) -> dict[str, str]:
    """Headers as Replicate sends them, signed independently of the code under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def configured(make_provider: MakeProvider, **settings: Any) -> tuple[ReplicateProvider, int]:
    settings.setdefault("webhook_url", HOOK)
    settings.setdefault("webhook_secret", DEFAULT_SECRET)
    provider, _, clock = make_provider(**settings)
    return provider, int(clock.now().timestamp())


def test_submit_asks_replicate_to_call_the_webhook(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider(webhook_url=HOOK, webhook_events="start,completed")
    anyio.run(provider.videoprovider_submit, VideoRequest(prompt="a cat", duration=5))
    (create,) = rec.sent("POST")
    body = json.loads(create.content)
    assert body["webhook"] == HOOK
    assert body["webhook_events_filter"] == ["start", "completed"]
    assert provider.pushes_updates is True


def test_without_webhook_url_submit_asks_for_nothing(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider()
    anyio.run(provider.videoprovider_submit, VideoRequest(prompt="a cat", duration=5))
    body = json.loads(rec.sent("POST")[0].content)
    assert "webhook" not in body and "webhook_events_filter" not in body
    assert provider.pushes_updates is False


def test_a_delivery_signed_by_the_emulator_is_read_like_a_poll(
    make_provider: MakeProvider,
) -> None:
    provider, now = configured(make_provider)
    sender = Deliverer(DEFAULT_SECRET)
    sender.queue(PID, "completed", HOOK, json.dumps(SUCCEEDED).encode(), now)
    (sent,) = sender.deliveries
    delivery = deliver(provider, sent.headers, sent.body)
    assert delivery.id == sent.headers["webhook-id"]
    assert delivery.status.task_id == PID
    assert delivery.status.state is TaskState.COMPLETED
    assert delivery.status.video_url == SUCCEEDED["output"]


def test_a_running_prediction_reports_its_progress(make_provider: MakeProvider) -> None:
    provider, now = configured(make_provider)
    body = json.dumps(prediction("processing", logs=" 45%|████▌     | 45/100")).encode()
    delivery = deliver(provider, signed(body, now, msg_id="msg_2"), body)
    assert (delivery.id, delivery.status.state, delivery.status.progress) == (
        "msg_2",
        TaskState.PROCESSING,
        45,
    )


BODY = json.dumps(SUCCEEDED).encode()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("forged signature", 401),
        ("wrong secret", 401),
        ("stale timestamp", 401),
        ("timestamp from the future", 401),
        ("missing headers", 400),
        ("non-JSON body", 400),
        ("JSON that is not a prediction", 400),
    ],
)
def test_bad_deliveries_are_rejected_with_the_status_to_answer(
    make_provider: MakeProvider, case: str, status: int
) -> None:
    provider, now = configured(make_provider)
    body, headers = BODY, signed(BODY, now)
    if case == "forged signature":
        body = BODY.replace(b"succeeded", b"failed")
    elif case == "wrong secret":
        headers = signed(BODY, now, OTHER_SECRET)
    elif case == "stale timestamp":
        headers = signed(BODY, now - 301)
    elif case == "timestamp from the future":
        headers = signed(BODY, now + 301)
    elif case == "missing headers":
        headers = {"content-type": "application/json"}
    elif case == "non-JSON body":
        body = b"<html>not json</html>"
        headers = signed(body, now)
    else:
        body = b'{"status": "succeeded"}'
        headers = signed(body, now)
    with pytest.raises(WebhookRejected) as info:
        deliver(provider, headers, body)
    assert info.value.http_status == status
    assert info.value.provider == "replicate" and info.value.operation == "webhook"


def test_rejections_never_show_the_secret_or_the_signature(
    make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider, now = configured(make_provider, webhook_secret=OTHER_SECRET)
    headers = signed(BODY, now)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WebhookRejected) as info:
        deliver(provider, headers, BODY)
    shown = str(info.value) + repr(info.value) + caplog.text + repr(provider.settings)
    for secret in (OTHER_SECRET, OTHER_SECRET.removeprefix("whsec_"), DEFAULT_SECRET):
        assert secret not in shown
    assert headers["webhook-signature"].removeprefix("v1,") not in shown
    assert "refused" in caplog.text.lower()


def test_without_webhook_settings_deliveries_are_refused_with_404(
    make_provider: MakeProvider,
) -> None:
    provider, rec, clock = make_provider()
    now = int(clock.now().timestamp())
    with pytest.raises(WebhookRejected, match="not configured") as info:
        deliver(provider, signed(BODY, now), BODY)
    assert info.value.http_status == 404
    assert "webhook_url" in (info.value.hint or "")
    assert rec.requests == []  # nothing was fetched


def test_the_secret_is_fetched_once_and_kept(make_provider: MakeProvider) -> None:
    provider, rec, clock = make_provider(
        httpx.Response(200, json={"key": DEFAULT_SECRET}), webhook_url=HOOK
    )
    now = int(clock.now().timestamp())
    for n in range(3):
        delivery = deliver(provider, signed(BODY, now, msg_id=f"msg_{n}"), BODY)
        assert delivery.status.state is TaskState.COMPLETED
    (fetch,) = rec.requests
    assert (fetch.method, fetch.url.path) == ("GET", "/v1/webhooks/default/secret")
    assert fetch.headers["authorization"].startswith("Bearer sk-test-")


def test_a_secret_reply_without_a_key_is_not_kept(make_provider: MakeProvider) -> None:
    provider, rec, clock = make_provider(
        httpx.Response(200, json={"nothing": "here"}),
        httpx.Response(200, json={"key": DEFAULT_SECRET}),
        webhook_url=HOOK,
        max_retries=0,
    )
    now = int(clock.now().timestamp())
    with pytest.raises(Exception, match="no whsec_ key"):
        deliver(provider, signed(BODY, now), BODY)
    with pytest.raises(ProviderUnavailable, match="not known yet"):
        deliver(provider, signed(BODY, now), BODY)  # within the backoff: no second fetch
    assert len(rec.requests) == 1
    clock.advance(2.0)  # past the first backoff (1 s at most)
    now = int(clock.now().timestamp())
    assert deliver(provider, signed(BODY, now), BODY).status.state is TaskState.COMPLETED
    assert len(rec.requests) == 2


@pytest.mark.parametrize(
    "secret_reply", [503, 401, 200], ids=["fetch-fails", "token-refused", "secret-found"]
)
def test_forged_deliveries_cost_at_most_one_secret_fetch(
    make_provider: MakeProvider, secret_reply: int
) -> None:
    replies = [httpx.Response(secret_reply, json={"detail": "no"})] * 20
    if secret_reply == 200:
        replies = [httpx.Response(200, json={"key": DEFAULT_SECRET})]
    provider, rec, clock = make_provider(*replies, webhook_url=HOOK, max_retries=3)
    now = int(clock.now().timestamp())
    forged = [
        {},  # unsigned: refused before anything else
        {"webhook-id": "m", "webhook-timestamp": "nan", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": str(now - 3600), "webhook-signature": "v1,A"},
    ]
    for headers in forged * 10:
        with pytest.raises(WebhookRejected):
            deliver(provider, headers, BODY)
    assert rec.requests == []  # none of those could even be checked against a secret
    fresh = {"webhook-id": "m", "webhook-timestamp": str(now), "webhook-signature": "v1,AAAA"}
    for n in range(20):
        with pytest.raises(VideoProviderError):  # 401, 503 or the fetch's own error
            deliver(provider, {**fresh, "webhook-id": f"m{n}"}, BODY)
    assert len(rec.requests) == 1  # one fetch, one request, however many deliveries


def test_deliveries_arriving_together_fetch_the_secret_once(make_provider: MakeProvider) -> None:
    provider, rec, clock = make_provider(
        httpx.Response(200, json={"key": DEFAULT_SECRET}), webhook_url=HOOK
    )
    now = int(clock.now().timestamp())
    states: list[TaskState] = []

    async def one(n: int) -> None:
        headers = signed(BODY, now, msg_id=f"msg_{n}")
        delivery = await provider.videoprovider_webhook(headers=headers, body=BODY)
        states.append(delivery.status.state)

    async def together() -> None:
        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(one, n)

    anyio.run(together)
    assert states == [TaskState.COMPLETED] * 5
    assert len(rec.requests) == 1
