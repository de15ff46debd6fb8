"""Mapping Replicate's replies: states, outputs, progress, expiry, ids, models, errors."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import errors
from videoprovider.models import TaskState, VideoRequest
from videoprovider.prices import Price, actual_cost
from videoprovider_replicate import wire

from .conftest import PID, prediction

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc)
URL = "https://replicate.delivery/xezq/abc/output.mp4"


def status_of(status: str, **fields: object) -> wire.TaskStatus:
    return wire.parse_status(httpx.Response(200, json=prediction(status, **fields)), PID, NOW)


@pytest.mark.parametrize(
    ("wire_state", "state"),
    [
        ("starting", TaskState.PENDING),
        ("processing", TaskState.PROCESSING),
        ("succeeded", TaskState.COMPLETED),
        ("failed", TaskState.FAILED),
        ("canceled", TaskState.CANCELED),
        ("aborted", TaskState.FAILED),
        ("queued-somewhere-new", TaskState.PROCESSING),
    ],
)
def test_every_documented_state_maps_and_an_unknown_one_keeps_polling(
    wire_state: str, state: TaskState
) -> None:
    fields = {"output": URL} if wire_state == "succeeded" else {}
    assert status_of(wire_state, **fields).state is state


@pytest.mark.parametrize(
    "output",
    [
        URL,
        [URL],
        ["https://replicate.delivery/a/poster.png", URL],
        {"video": URL},
        {"result": 1, "video_url": URL},
        {"output": [{"url": URL}]},
    ],
)
def test_the_video_url_is_found_whatever_the_output_shape(output: object) -> None:
    assert status_of("succeeded", output=output).video_url == URL


def test_output_expires_an_hour_after_completion() -> None:
    status = status_of("succeeded", output=URL, completed_at="2026-01-01T00:02:00Z")
    assert status.video_url_expires_at == datetime(2026, 1, 1, 1, 2, tzinfo=timezone.utc)


def test_removed_output_is_unknown_not_a_protocol_error() -> None:
    status = status_of("succeeded", output=None, data_removed=True)
    assert status.state is TaskState.UNKNOWN and status.error_code == "data_removed"


def test_success_without_any_url_is_a_protocol_error() -> None:
    with pytest.raises(errors.ProtocolError, match="without an https video URL"):
        status_of("succeeded", output={"text": "hello"})


def test_progress_comes_from_the_last_percentage_in_the_logs() -> None:
    logs = "loading\n 10%|█         | 5/50\n 42%|████▏     | 21/50 [00:10<00:14]\n"
    assert status_of("processing", logs=logs).progress == 42
    assert status_of("processing", logs="weights 100% loaded").progress == 50  # the default


@given(st.text(max_size=300))
def test_progress_from_any_logs_is_a_percentage_or_absent(logs: str) -> None:
    assert wire.progress_from_logs(logs) in {-1, *range(101)}


def test_failure_carries_replicates_error() -> None:
    status = status_of("failed", error="E005: flagged as sensitive")
    assert status.error_message == "E005: flagged as sensitive" and status.error_code == "failed"


@pytest.mark.parametrize(
    "bad", ["", "../models", "ABC", "a b", "x?y", "a" * 65, "ü1", "abc\n", "abc\n\n"]
)
def test_a_malformed_prediction_id_is_refused(bad: str) -> None:
    with pytest.raises(errors.TaskNotFound, match="not a Replicate prediction id"):
        wire.prediction_path(bad, "status")


def test_a_prediction_id_makes_a_path() -> None:
    assert wire.prediction_path(PID, "cancel", "/cancel") == f"/predictions/{PID}/cancel"


@pytest.mark.parametrize(
    ("value", "path", "version"),
    [
        ("wan-video/wan-2.5-t2v", "/models/wan-video/wan-2.5-t2v", None),
        ("acme/keyframes:" + "5" * 64, "/models/acme/keyframes", "5" * 64),
    ],
)
def test_model_references(value: str, path: str, version: str | None) -> None:
    ref = wire.parse_model(value)
    assert (ref.model_path, ref.version, str(ref)) == (path, version, value)


@pytest.mark.parametrize("bad", ["wan-2.5", "a/b/c", "a/b:short", "../x/y", "a/b:" + "G" * 64])
def test_a_malformed_model_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(errors.RequestRejected) as info:
        wire.parse_model(bad)
    assert info.value.field == "model"


def test_retry_after_from_header_or_from_the_documented_body() -> None:
    assert wire.retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    body = {"detail": "Request was throttled. Your rate limit resets in ~30s."}
    assert wire.retry_after(httpx.Response(429, json=body)) == 30
    later = NOW + timedelta(seconds=12)
    dated = httpx.Response(
        429, headers={"Retry-After": later.strftime("%a, %d %b %Y %H:%M:%S GMT")}
    )
    assert wire.retry_after(dated, NOW) == 12


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (401, errors.AuthenticationError),
        (402, errors.AccountError),
        (403, errors.PermissionDenied),
        (422, errors.RequestRejected),
        (429, errors.RateLimited),
        (503, errors.ProviderUnavailable),
    ],
)
def test_error_replies_map_to_core_errors(code: int, kind: type[Exception]) -> None:
    response = httpx.Response(code, json={"title": "x", "detail": "why", "status": code})
    err = wire.error_for(response, "status", PID)
    assert type(err) is kind and "why" in str(err)


def test_a_token_echoed_in_an_error_reply_is_redacted() -> None:
    leaked = "r8_" + "Z" * 37
    response = httpx.Response(401, json={"detail": f"Invalid token {leaked}."})
    assert leaked not in str(wire.error_for(response, "status", PID))


@pytest.mark.parametrize(
    ("metrics", "seconds"),
    [
        ({"predict_time": 42.5}, 42.5),
        ({"predict_time": "42"}, None),
        ({"predict_time": 10**400}, None),
        ({}, None),
        ("x", None),
    ],
)
def test_a_success_compute_time_is_billed_and_priced_per_compute_second(
    metrics: object, seconds: float | None
) -> None:
    status = status_of("succeeded", output=URL, metrics=metrics)
    assert (status.billed.compute_seconds if status.billed else None) == seconds
    assert status_of("processing", metrics={"predict_time": 3.0}).billed is None
    request = VideoRequest(prompt="a cat", model="owner/model")
    prices = [Price(model="*", per_compute_second=Decimal("0.002"), currency="USD")]
    cost = actual_cost(request, status.billed, prices=prices)
    assert cost.actual is (seconds is not None)
    assert cost.amount == (Decimal("0.0850") if seconds else None)


def test_a_dated_retry_after_is_honoured_without_being_handed_the_time() -> None:
    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 -0000"})
    value = wire.retry_after(dated)
    assert value is not None and value > 3600
