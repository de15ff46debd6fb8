"""The provider's HTTP behaviour over MockTransport: routes, retries, the submit rule."""

import json

import anyio
import httpx
import pytest

from videoprovider import (
    AuthenticationError,
    ProviderUnavailable,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskNotFound,
    VideoRequest,
)
from videoprovider.models import TaskState
from videoprovider.provider import single_attempt

from .conftest import PID, TOKEN, MakeProvider, reply

CAT = VideoRequest(prompt="a cat", duration=5)


def run(coro_fn, *args):  # type: ignore[no-untyped-def]
    return anyio.run(coro_fn, *args)


def test_official_model_is_created_by_name_without_prefer_wait(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider()
    task = run(provider.videoprovider_submit, CAT)
    assert task.task_id == PID
    (create,) = rec.sent("POST")
    assert create.url.path == "/v1/models/wan-video/wan-2.5-t2v/predictions"
    assert json.loads(create.content) == {"input": {"prompt": "a cat", "duration": 5}}
    assert "prefer" not in create.headers  # asynchronous: the prediction is polled
    assert create.headers["authorization"] == f"Bearer {TOKEN}"


def test_pinned_version_is_created_through_predictions(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider()
    model = "acme/keyframes:" + "5" * 64
    request = VideoRequest(prompt="a cat", model=model, extra={"camera": "pan"})
    run(provider.videoprovider_submit, request)
    (schema,) = rec.sent("GET")
    assert schema.url.path == f"/v1/models/acme/keyframes/versions/{'5' * 64}"
    (create,) = rec.sent("POST")
    assert create.url.path == "/v1/predictions"
    assert json.loads(create.content)["version"] == "5" * 64


def test_a_submit_costs_one_request_once_the_schema_is_cached(
    make_provider: MakeProvider,
) -> None:
    provider, rec, _ = make_provider()
    run(provider.videoprovider_submit, CAT)
    run(provider.videoprovider_submit, CAT)
    assert len(rec.sent("GET")) == 1 and len(rec.sent("POST")) == 2
    # A new provider (another process) finds the schema in the disk cache.
    again, rec2, _ = make_provider()
    run(again.videoprovider_submit, CAT)
    assert [r.method for r in rec2.requests] == ["POST"]


def test_schema_refusal_sends_no_create(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider()
    with pytest.raises(RequestRejected) as info:
        run(provider.videoprovider_submit, VideoRequest(prompt="a cat", duration=7))
    assert info.value.field == "duration"
    assert rec.sent("POST") == []


def test_bad_model_name_sends_nothing(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider()
    with pytest.raises(RequestRejected):
        run(provider.videoprovider_submit, VideoRequest(prompt="a", model="not a model"))
    assert rec.requests == []


def test_submit_retries_when_nothing_was_sent(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider(httpx.ConnectError("refused"), reply(code=201))
    assert run(provider.videoprovider_submit, CAT).task_id == PID
    assert len(rec.sent("POST")) == 2


def test_submit_retries_after_429_honouring_its_wait(make_provider: MakeProvider) -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "3"}, json={"detail": "slow down"})
    provider, rec, clock = make_provider(throttled, reply(code=201))
    assert run(provider.videoprovider_submit, CAT).task_id == PID
    assert len(rec.sent("POST")) == 2 and clock.sleeps[0] >= 3


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(500, json={"detail": "oops"}),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(201, text="{not json"),
        httpx.Response(201, json={"status": "starting"}),
    ],
)
def test_submit_that_may_have_landed_is_never_resent(
    make_provider: MakeProvider, failure: object
) -> None:
    provider, rec, _ = make_provider(failure, reply(code=201))
    with pytest.raises(SubmitOutcomeUnknown) as info:
        run(provider.videoprovider_submit, CAT)
    assert info.value.request == CAT
    assert len(rec.sent("POST")) == 1


def test_a_rejected_token_is_an_authentication_error_without_the_token(
    make_provider: MakeProvider,
) -> None:
    provider, _, _ = make_provider(httpx.Response(401, json={"detail": "Invalid token."}))
    with pytest.raises(AuthenticationError) as info:
        run(provider.videoprovider_status, PID)
    assert TOKEN not in str(info.value) and TOKEN not in repr(provider)


def test_status_is_retried_alone_but_tried_once_for_the_scheduler(
    make_provider: MakeProvider,
) -> None:
    provider, rec, _ = make_provider(httpx.Response(503), reply("processing"))
    assert run(provider.videoprovider_status, PID).state is TaskState.PROCESSING
    provider, rec, _ = make_provider(httpx.Response(503), reply("processing"))

    async def polled_by_scheduler() -> None:
        token = single_attempt.set(True)
        try:
            await provider.videoprovider_status(PID)
        finally:
            single_attempt.reset(token)

    with pytest.raises(ProviderUnavailable):
        anyio.run(polled_by_scheduler)
    assert len(rec.requests) == 1


def test_unknown_prediction_is_reported_unknown(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(httpx.Response(404, json={"detail": "Not found."}))
    assert run(provider.videoprovider_status, PID).state is TaskState.UNKNOWN


@pytest.mark.parametrize("op", ["videoprovider_status", "videoprovider_cancel"])
def test_a_bad_id_is_refused_before_any_request(make_provider: MakeProvider, op: str) -> None:
    provider, rec, _ = make_provider()
    with pytest.raises(TaskNotFound, match="not a Replicate prediction id"):
        run(getattr(provider, op), "../../account")
    assert rec.requests == []


def test_cancel_posts_and_reports_canceled(make_provider: MakeProvider) -> None:
    provider, rec, _ = make_provider(reply("canceled"))
    assert run(provider.videoprovider_cancel, PID).state is TaskState.CANCELED
    (cancel,) = rec.sent("POST")
    assert cancel.url.path == f"/v1/predictions/{PID}/cancel"


def test_cancelling_a_finished_prediction_reports_its_final_state(
    make_provider: MakeProvider,
) -> None:
    done = reply("succeeded", output="https://replicate.delivery/x/out.mp4")
    provider, _, _ = make_provider(done)
    status = run(provider.videoprovider_cancel, PID)
    assert status.state is TaskState.COMPLETED and status.video_url
