"""Caller keys: who may call, what each may use and see, and how often."""

from __future__ import annotations

import httpx
import pytest

from .conftest import KEY_A, KEY_B, StartServer, keys_table

openai = pytest.importorskip("openai")
# The openai clients mark their videos resource deprecated since OpenAI closed its service.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_a_caller_sees_only_its_own_videos(start_server: StartServer) -> None:
    url = start_server(keys_table()).url
    a, b = client(url, KEY_A), client(url, KEY_B)
    mine = a.videos.create(prompt="a's video")
    with pytest.raises(openai.NotFoundError):
        b.videos.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        b.videos.delete(mine.id)
    with pytest.raises(openai.NotFoundError):
        b.videos.download_content(mine.id)
    assert b.videos.list().data == []
    assert [v.id for v in a.videos.list().data] == [mine.id]


def test_no_key_and_a_wrong_key_are_refused(start_server: StartServer) -> None:
    url = start_server(keys_table()).url
    with pytest.raises(openai.AuthenticationError) as caught:
        client(url, "sk-test-not-a-key").videos.list()
    assert caught.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    answer = httpx.get(f"{url}/v1/videos")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "missing_api_key"


def test_a_key_limited_to_models_may_use_only_those(start_server: StartServer) -> None:
    url = start_server(keys_table(models='["fake/fake-1"]')).url
    a = client(url, KEY_A)
    a.videos.create(prompt="allowed", model="fake/fake-1")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        a.videos.create(prompt="not allowed", model="fake/other")
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    client(url, KEY_B).videos.create(prompt="b has no limit", model="fake/other")


def test_a_key_limited_to_providers_may_use_only_those(start_server: StartServer) -> None:
    url = start_server(keys_table(providers='["dashscope"]')).url
    with pytest.raises(openai.PermissionDeniedError):
        client(url, KEY_A).videos.create(prompt="fake is not allowed", model="fake/fake-1")


def test_the_request_rate_is_answered_with_429_and_retry_after(
    start_server: StartServer,
) -> None:
    # Each request moves the gateway's clock one second: 2 a minute allows two, then the
    # bucket has 2/60 of a request and 29 s to wait.
    url = start_server(keys_table(rate_per_minute="2")).url
    headers = {"Authorization": f"Bearer {KEY_A}"}
    assert httpx.get(f"{url}/v1/videos", headers=headers).status_code == 200
    assert httpx.get(f"{url}/v1/videos", headers=headers).status_code == 200
    third = httpx.get(f"{url}/v1/videos", headers=headers)
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(third.headers["retry-after"]) <= 30
    other = {"Authorization": f"Bearer {KEY_B}"}
    assert httpx.get(f"{url}/v1/videos", headers=other).status_code == 200


PRICES = '[[prices.fake]]\nmodel = "*"\nper_second = 0.10\ncurrency = "USD"\n'


def test_max_spend_per_caller_refuses_what_would_go_over(start_server: StartServer) -> None:
    url = start_server(keys_table(max_spend='"1 USD"'), extra=PRICES).url
    a = client(url, KEY_A)
    first = a.videos.create(prompt="5 s at 0.10", seconds="5")
    assert first.model_extra and first.model_extra["cost"]["estimate"] == "0.5"
    second = a.videos.create(
        prompt="another 0.50", seconds="5", extra_headers={"Idempotency-Key": "second"}
    )
    # At the cap now, yet a retry of the same create is the same video, not a refusal.
    again = a.videos.create(
        prompt="another 0.50", seconds="5", extra_headers={"Idempotency-Key": "second"}
    )
    assert again.id == second.id
    with pytest.raises(openai.RateLimitError) as caught:
        a.videos.create(prompt="over the cap", seconds="5")
    assert caught.value.body["type"] == "insufficient_quota"  # type: ignore[index]
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(a.videos.list().data) == 2
    client(url, KEY_B).videos.create(prompt="b has no cap", seconds="5")


def test_bodies_over_the_cap_are_refused_with_413(start_server: StartServer) -> None:
    url = start_server("max_body_bytes = 2000\nmax_upload_bytes = 1000\n").url
    answer = httpx.post(f"{url}/v1/videos", json={"prompt": "x" * 3000})
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "request_too_large"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1200
    upload = httpx.post(
        f"{url}/v1/videos", data={"prompt": "x"}, files={"input_reference": ("a.png", png)}
    )
    assert upload.status_code == 413
    assert upload.json()["error"]["param"] == "input_reference"


def test_the_native_routes_and_events_keep_callers_apart(start_server: StartServer) -> None:
    url = start_server(keys_table()).url
    a = {"Authorization": f"Bearer {KEY_A}"}
    b = {"Authorization": f"Bearer {KEY_B}"}
    made = httpx.post(f"{url}/v1/tasks", json={"request": {"prompt": "mine"}}, headers=a).json()
    video_id = made["video"]["id"]
    assert httpx.get(f"{url}/v1/tasks/{video_id}", headers=a).status_code == 200
    for path in (f"/v1/tasks/{video_id}", f"/v1/videos/{video_id}/events"):
        answer = httpx.get(f"{url}{path}", headers=b)
        assert answer.status_code == 404, path
    spent = httpx.get(f"{url}/v1/costs", headers=b).json()
    assert spent["caller"] == "b" and spent["spent"] == {}
