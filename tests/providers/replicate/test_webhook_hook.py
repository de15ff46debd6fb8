"""The provider's webhook side: submit asks for deliveries."""

import json

import anyio

from videoprovider import VideoRequest

from .conftest import MakeProvider

HOOK = "https://host.example/replicate-hook"


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
