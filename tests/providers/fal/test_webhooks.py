"""fal's webhook deliveries: ED25519 signatures over the documented message, keys from JWKS."""

import json
import socket
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from videoprovider.client import AsyncVideoClient
from videoprovider.errors import WebhookRejected
from videoprovider.models import TaskState
from videoprovider.testing.clocks import HeldClock
from videoprovider.webhooks import asgi_app
from videoprovider_fal.emulator import EmulatorConfig, run_in_thread
from videoprovider_fal.emulator.webhooks import signed_headers
from videoprovider_fal.testing import TEST_KEY, emulator_settings
from videoprovider_fal.webhooks import WebhookVerificationError, keys_from_jwks, verify_webhook

pytestmark = pytest.mark.anyio
RID = "00000000-0000-4000-8000-000000000001"
BODY = json.dumps(
    {"request_id": RID, "status": "OK", "payload": {"video": {"url": "https://v3.fal.media/x.mp4"}}}
).encode()
NOW = 1_800_000_000


def _emulator_keys() -> tuple[Any, list[Any]]:
    from videoprovider_fal.emulator.webhooks import Deliverer

    deliverer = Deliverer()
    return deliverer, keys_from_jwks(deliverer.jwks())


def test_a_signed_delivery_verifies_and_any_change_breaks_it() -> None:
    deliverer, keys = _emulator_keys()
    headers = signed_headers(deliverer.signing_key, RID, BODY, NOW)
    assert verify_webhook(BODY, headers, keys, now=NOW + 10) == RID
    for changed in (
        (BODY + b" ", headers),
        (BODY, {**headers, "X-Fal-Webhook-Request-Id": "00000000-0000-4000-8000-000000000009"}),
        (BODY, {**headers, "X-Fal-Webhook-User-Id": "someone-else"}),
        (BODY, {**headers, "X-Fal-Webhook-Timestamp": str(NOW + 1)}),
    ):
        with pytest.raises(WebhookVerificationError) as info:
            verify_webhook(*changed, keys, now=NOW)
        assert info.value.http_status == 401


def test_stale_and_malformed_deliveries_are_refused() -> None:
    deliverer, keys = _emulator_keys()
    headers = signed_headers(deliverer.signing_key, RID, BODY, NOW)
    with pytest.raises(WebhookVerificationError, match="outside") as stale:
        verify_webhook(BODY, headers, keys, now=NOW + 301)
    assert stale.value.http_status == 401
    del headers["X-Fal-Webhook-Signature"]
    with pytest.raises(WebhookVerificationError) as missing:
        verify_webhook(BODY, headers, keys, now=NOW)
    assert missing.value.http_status == 400


def test_keys_other_than_ed25519_are_ignored() -> None:
    doc = {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}, {"kty": "OKP", "crv": "X25519"}]}
    assert keys_from_jwks(doc) == []


async def _provider_with(emulator: Any, clock: Any) -> Any:
    from videoprovider.plugins import load_provider_class
    from videoprovider.provider import ProviderContext

    cls = load_provider_class("fal")
    settings = cls.Settings(**emulator_settings(emulator), webhook_url="http://127.0.0.1:9/h")
    return cls(settings, ProviderContext(name="fal", clock=clock))


async def test_keys_are_cached_refetched_after_rotation_and_never_per_delivery() -> None:
    clock = HeldClock()
    with run_in_thread(EmulatorConfig(api_keys=(TEST_KEY,)), clock=clock) as emulator:
        provider = await _provider_with(emulator, clock)
        deliverer = emulator.service.webhooks
        stamp = int(clock.now().timestamp())
        body = BODY
        try:
            for _ in range(3):
                headers = signed_headers(deliverer.signing_key, RID, body, stamp)
                delivery = await provider.videoprovider_webhook(headers=headers, body=body)
                assert delivery.status.state is TaskState.COMPLETED
            forged = signed_headers(deliverer.signing_key, RID, body, stamp)
            forged["X-Fal-Webhook-Signature"] = "00" * 64
            for _ in range(5):
                with pytest.raises(WebhookRejected) as info:
                    await provider.videoprovider_webhook(headers=forged, body=body)
                assert info.value.http_status == 401
            stale = signed_headers(deliverer.signing_key, RID, body, stamp - 301)
            with pytest.raises(WebhookRejected, match="outside") as old:
                await provider.videoprovider_webhook(headers=stale, body=body)
            assert old.value.http_status == 401
            # One fetch for all: a forged delivery within a minute of it fetches nothing.
            assert len(emulator.service.requests_of("jwks")) == 1
            deliverer.rotate()
            clock.advance(61)
            headers = signed_headers(deliverer.signing_key, RID, body, int(clock.now().timestamp()))
            delivery = await provider.videoprovider_webhook(headers=headers, body=body)
            assert delivery.status.video_url == "https://v3.fal.media/x.mp4"
            assert len(emulator.service.requests_of("jwks")) == 2  # the rotated keys
        finally:
            await provider.videoprovider_aclose()


async def test_a_signed_delivery_ends_a_wait_with_no_poll_and_a_forged_one_changes_nothing(
    tmp_path: Path,
) -> None:
    import uvicorn

    clock = HeldClock()
    listening = socket.create_server(("127.0.0.1", 0))
    hook_url = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks/fal"
    config = EmulatorConfig(api_keys=(TEST_KEY,), queue_seconds=2.0, run_seconds=8.0)
    with run_in_thread(config, clock=clock) as emulator:
        async with AsyncVideoClient(
            "fal",
            config=False,
            environ={},
            clock=clock,
            journal=tmp_path / "journal.sqlite3",
            webhook_url=hook_url,
            **emulator_settings(emulator),
        ) as client:
            server = uvicorn.Server(
                uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off")
            )
            result: dict[str, Any] = {}
            async with anyio.create_task_group() as group:
                group.start_soon(partial(server.serve, sockets=[listening]))
                task = await client.submit("a cat")
                request_id = task.task_id.split(":")[1]
                ended = anyio.Event()

                async def wait() -> None:
                    result["status"] = await client.wait(task, timeout=3600)
                    ended.set()

                group.start_soon(wait)
                failed = json.dumps({"request_id": request_id, "status": "ERROR"}).encode()
                stamp = int(clock.now().timestamp())
                forged = signed_headers(
                    emulator.service.webhooks.signing_key, request_id, b"", stamp
                )
                async with httpx.AsyncClient() as http:
                    answers = [
                        (await http.post(hook_url, content=failed, headers=forged)).status_code
                    ]
                clock.advance(12.0)
                with anyio.fail_after(10):  # real time, bounded: the delivery crosses threads
                    await ended.wait()
                (delivery,) = emulator.service.webhooks.settled(1)
                async with httpx.AsyncClient() as http:
                    replay = await http.post(
                        hook_url, content=delivery.body, headers=delivery.headers
                    )
                server.should_exit = True
            assert client.journal is not None
            entry = client.journal.get(task.task_id)
    assert answers == [401]
    assert delivery.answer == 200
    assert replay.status_code == 200 and replay.json().get("replay") is True
    assert result["status"].state is TaskState.COMPLETED
    assert emulator.service.requests_of("status") == []
    assert emulator.service.requests_of("result") == []
    (submit,) = emulator.service.requests_of("submit")
    assert submit.path.endswith("text-to-video")  # sent with fal_webhook, in the query
    assert entry is not None and entry.state is TaskState.COMPLETED
