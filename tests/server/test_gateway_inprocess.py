"""What a real provider would need a network for, in-process: the app on Starlette's test
client, time held still (HeldClock), so nothing ends unless a test says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from videoprovider import errors as e
from videoprovider.client import AsyncVideoClient
from videoprovider.config import load_config
from videoprovider.provider import Operation
from videoprovider.server import create_app
from videoprovider.server.errors import from_provider_error
from videoprovider.testing.clocks import HeldClock

from .conftest import write_config


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(load_config(config=write_config(tmp_path)), clock=HeldClock())
    with TestClient(app) as client:
        yield client


def test_deleting_a_running_task_the_provider_cannot_cancel_keeps_it(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = app_client.post("/v1/videos", json={"prompt": "A cat"}).json()
    monkeypatch.setattr(AsyncVideoClient, "capabilities", frozenset(Operation) - {Operation.CANCEL})
    answer = app_client.delete(f"/v1/videos/{video['id']}")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "cancel_unsupported" and "kept" in error["message"]
    assert answer.headers["x-should-retry"] == "false"
    assert app_client.get(f"/v1/videos/{video['id']}").json()["status"] == "queued"


def test_content_of_an_open_video_is_a_409(app_client: TestClient) -> None:
    video = app_client.post("/v1/videos", json={"prompt": "A cat"}).json()
    answer = app_client.get(f"/v1/videos/{video['id']}/content")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "video_not_ready"


def test_json_body_errors_name_the_field(app_client: TestClient) -> None:
    answer = app_client.post("/v1/videos", json={"model": "fake/fake-1"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "prompt"
    listing = app_client.get("/v1/videos", params={"limit": 0})
    assert listing.status_code == 400 and listing.json()["error"]["param"] == "limit"


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (e.RateLimited("slow down", retry_after=3.2), 429, "4"),
        (e.ProviderUnavailable("down"), 503, "10"),
        (e.RequestRejected("bad", field="duration"), 400, None),
        (e.ContentRejected("no", field="prompt"), 400, None),
        (e.AuthenticationError("key"), 502, None),
        (e.SubmitOutcomeUnknown("lost"), 502, None),
        (e.TaskNotFound("gone"), 404, None),
        (e.UnsupportedOperation("no", provider="p", operation="cancel"), 409, None),
    ],
)
def test_library_errors_map_to_openai_statuses(
    error: e.VideoProviderError, status: int, retry_after: str | None
) -> None:
    response = from_provider_error(error).response()
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    if isinstance(error, e.RequestRejected):
        assert b'"param":"seconds"' in response.body or b'"param":"prompt"' in response.body


def test_metrics_count_requests_by_route_and_videos_by_status(app_client: TestClient) -> None:
    video = app_client.post("/v1/videos", json={"prompt": "A cat"}).json()
    app_client.get(f"/v1/videos/{video['id']}")
    app_client.get("/v1/videos/video_nope")
    text = app_client.get("/metrics").text
    assert 'videoprovider_gateway_videos{provider="fake",status="queued"} 1.0' in text
    assert (
        'videoprovider_gateway_requests_total{method="GET",route="/v1/videos/{video_id}",'
        'status="404"} 1.0'
    ) in text
    assert video["id"] not in text
    assert 'videoprovider_tasks_total{provider="fake",state="submitted"} 1.0' in text
    assert "videoprovider_gateway_request_seconds_bucket" in text


def test_health_and_readiness(app_client: TestClient) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_provider_webhooks_reach_the_provider_and_its_answer_comes_back(
    app_client: TestClient,
) -> None:
    fake = app_client.post("/v1/webhooks/fake", content=b"{}")
    assert fake.status_code == 404 and "takes no webhook" in fake.json()["error"]["message"]
    unknown = app_client.post("/v1/webhooks/nope", content=b"{}")
    assert unknown.status_code == 404


def test_a_forged_provider_delivery_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOPROVIDER_REPLICATE_API_TOKEN", "r8_test-token")
    monkeypatch.setenv(
        "VIDEOPROVIDER_REPLICATE_WEBHOOK_URL", "https://gw.example/v1/webhooks/replicate"
    )
    monkeypatch.setenv(
        "VIDEOPROVIDER_REPLICATE_WEBHOOK_SECRET", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    )
    app = create_app(load_config(config=write_config(tmp_path)), clock=HeldClock())
    with TestClient(app) as client:
        forged = client.post(
            "/v1/webhooks/replicate",
            content=b'{"id": "p1", "status": "failed"}',
            headers={
                "webhook-id": "msg_forged",
                "webhook-timestamp": str(int(HeldClock().now().timestamp())),
                "webhook-signature": "v1,bm90LWEtc2lnbmF0dXJl",
            },
        )
    assert forged.status_code == 401, forged.text
    assert "Refused a Replicate webhook delivery" in forged.json()["error"]["message"]


def test_a_tracker_stopped_on_the_gateways_side_keeps_the_video_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = AsyncVideoClient.wait
    calls: list[str] = []

    async def flaky(self: AsyncVideoClient, task: Any, **kw: Any) -> Any:
        calls.append(str(task))
        if len(calls) == 1:
            raise e.AuthenticationError("the operator rotated the provider key")
        return await original(self, task, **kw)

    monkeypatch.setattr(AsyncVideoClient, "wait", flaky)
    clock = HeldClock()
    app = create_app(load_config(config=write_config(tmp_path)), clock=clock)
    with TestClient(app) as client:
        assert client.portal is not None
        video = client.post("/v1/videos", json={"prompt": "A cat"}).json()
        for _ in range(1000):  # the tracker runs on the app's loop; bounded by count
            if calls:
                break
            client.get("/healthz")
        assert client.get(f"/v1/videos/{video['id']}").json()["status"] == "queued"
        for _ in range(1000):  # time moves on, past the tracker's pause and the task's 3 s
            client.portal.call(clock.advance, 5)
            status = client.get(f"/v1/videos/{video['id']}").json()["status"]
            if status != "queued" and status != "in_progress":
                break
    assert status == "completed" and len(calls) == 2
