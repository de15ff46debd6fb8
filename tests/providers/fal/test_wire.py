"""fal's ids, URLs and error shapes, and the settings that guard where the key goes."""

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from videoprovider.errors import RateLimited, RequestRejected, TaskNotFound
from videoprovider.models import TaskState
from videoprovider_fal import wire
from videoprovider_fal.settings import FalSettings

AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


@pytest.mark.parametrize(
    ("endpoint", "app"),
    [
        ("fal-ai/kling-video/v2.1/master/text-to-video", "fal-ai/kling-video"),
        ("fal-ai/veo3", "fal-ai/veo3"),
        ("workflows/acme/my-flow/run", "workflows/acme/my-flow"),
    ],
)
def test_status_urls_use_owner_and_app_only(endpoint: str, app: str) -> None:
    ref = wire.task_ref(f"{wire.parse_endpoint(endpoint).app}:{RID}", "status")
    assert ref.app == app
    assert ref.path("/status") == f"/{app}/requests/{RID}/status"


@pytest.mark.parametrize(
    "bad", ["fal-ai", "../x/y", "fal-ai/../admin", "a//b", "fal-ai/x?y=1", "workflows/acme"]
)
def test_malformed_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(RequestRejected) as info:
        wire.parse_endpoint(bad)
    assert info.value.field == "model"


@pytest.mark.parametrize("bad", [RID, f"fal-ai/x:{RID}/../y", f"../x:{RID}", "fal-ai/x:a?b"])
def test_malformed_task_ids_are_refused(bad: str) -> None:
    with pytest.raises(TaskNotFound):
        wire.task_ref(bad, "status")


def test_a_validation_error_names_the_field() -> None:
    body = {"detail": [{"loc": ["body", "duration"], "msg": "bad value", "type": "enum"}]}
    error = wire.error_for(httpx.Response(422, json=body), "submit")
    assert isinstance(error, RequestRejected) and error.field == "duration"
    assert "duration: bad value" in str(error)


def test_a_429_carries_retry_after() -> None:
    reply = httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "7"})
    error = wire.error_for(reply, "status")
    assert isinstance(error, RateLimited) and error.retry_after == 7.0


def test_queue_states_map_and_completed_defers_to_the_result() -> None:
    ref = wire.task_ref(f"fal-ai/veo3:{RID}", "status")
    queued = wire.queue_status({"status": "IN_QUEUE", "queue_position": 3}, ref, AT)
    assert queued is not None and queued.state is TaskState.PENDING and queued.queue_position == 3
    running = wire.queue_status({"status": "IN_PROGRESS", "logs": []}, ref, AT)
    assert running is not None and running.state is TaskState.PROCESSING
    assert wire.queue_status({"status": "COMPLETED"}, ref, AT) is None
    failed = wire.result_status(httpx.Response(500, json={"detail": "CUDA OOM"}), ref, AT)
    assert failed.state is TaskState.FAILED and failed.error_message == "CUDA OOM"


def test_the_key_comes_from_fal_key_and_never_travels_in_clear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = FalSettings(api_key="sk-test-fal-0123456789")
    assert settings.base_url == "https://queue.fal.run"
    assert "sk-test" not in repr(settings)
    with pytest.raises(ValidationError, match="https"):
        FalSettings(api_key="sk-test-fal", base_url="http://queue.example.com")
    with pytest.raises(ValidationError, match="bare origin"):
        FalSettings(api_key="sk-test-fal", base_url="https://queue.fal.run/?x=1")
    with pytest.raises(ValidationError, match="normal"):
        FalSettings(api_key="sk-test-fal", priority="high")
    assert FalSettings.env_vars["api_key"] == ("FAL_KEY",)


@pytest.mark.parametrize(
    ("fields", "amount"),
    [
        ({"model": "fal-ai/kling-video/v2.1/master/text-to-video", "duration": 5}, "1.40"),
        ({"model": "fal-ai/veo3", "duration": 8}, "3.20"),
        ({"model": "fal-ai/ltx-2.3/text-to-video", "duration": 6, "resolution": "1440P"}, "0.96"),
        ({"duration": 5}, None),  # the default Wan 2.5 endpoint: no price read
    ],
)
def test_prices_are_the_endpoint_pages_or_unknown(
    fields: dict[str, Any], amount: str | None
) -> None:
    from videoprovider.sync import VideoClient

    with VideoClient("fal", config=False, environ={}, api_key="sk-test-fal-prices") as client:
        estimate = client.estimate("a cat", **fields)
    if amount is None:
        assert estimate.amount is None and "no known price" in estimate.basis
    else:
        assert estimate.amount == Decimal(amount) and estimate.currency == "USD"
        assert estimate.source.startswith("https://fal.ai/models/") and estimate.as_of
