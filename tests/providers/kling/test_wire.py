"""Kling's replies as core values: task references, the error-code table, task objects."""

from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import errors
from videoprovider.models import TaskState, VideoRequest
from videoprovider_kling import wire
from videoprovider_kling.catalog import MODELS, Kind
from videoprovider_kling.request import build_create

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def reply(status: int, code: int, message: str = "m", **headers: str) -> httpx.Response:
    doc = {"code": code, "message": message, "request_id": "r1", "data": None}
    return httpx.Response(status, json=doc, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, 1000, errors.AuthenticationError),
        (401, 1001, errors.AuthenticationError),
        (401, 1002, errors.AuthenticationError),
        (401, 1003, errors.AuthenticationError),
        (401, 1004, errors.AuthenticationError),
        (429, 1100, errors.AccountError),
        (429, 1101, errors.AccountError),
        (429, 1102, errors.AccountError),
        (403, 1103, errors.PermissionDenied),
        (400, 1200, errors.RequestRejected),
        (400, 1201, errors.RequestRejected),
        (404, 1203, errors.TaskNotFound),
        (400, 1300, errors.RequestRejected),
        (400, 1301, errors.ContentRejected),
        (429, 1302, errors.RateLimited),
        (429, 1303, errors.RateLimited),
        (429, 1304, errors.PermissionDenied),
        (500, 5000, errors.ProviderUnavailable),
        (503, 5001, errors.ProviderUnavailable),
        (504, 5002, errors.ProviderUnavailable),
    ],
)
def test_every_code_of_the_table_maps_to_its_error(status: int, code: int, error: type) -> None:
    found = wire.error_for(reply(status, code), "status", "t2v-1")
    assert type(found) is error
    assert found.code == str(code) and found.request_id == "r1" and found.http_status == status


def test_throttling_waits_as_long_as_a_slot_takes() -> None:
    rate = wire.error_for(reply(429, 1302), "submit")
    slots = wire.error_for(reply(429, 1303), "submit")
    told = wire.error_for(reply(429, 1303, **{"Retry-After": "7"}), "submit")
    assert isinstance(rate, errors.RateLimited) and rate.retry_after == 2.0
    assert isinstance(slots, errors.RateLimited) and slots.retry_after == 30.0
    assert isinstance(told, errors.RateLimited) and told.retry_after == 7.0


def test_a_succeeded_task_becomes_a_completed_status_with_its_video() -> None:
    task = {
        "task_id": "8672",
        "task_status": "succeed",
        "task_status_msg": "",
        "created_at": 1767225600000,
        "updated_at": 1767225660000,
        "task_result": {"videos": [{"id": "v", "url": "https://cdn.test/v.mp4", "duration": "5"}]},
    }
    status = wire.status_of(task, Kind.IMAGE, NOW, "r1")
    assert status.task_id == "i2v-8672" and status.state is TaskState.COMPLETED
    assert status.video_url == "https://cdn.test/v.mp4"
    assert status.video_url_expires_at is not None
    assert (status.video_url_expires_at - status.finished_at).days == 30  # type: ignore[operator]


def test_a_failed_task_carries_its_message_and_an_unlisted_state_is_a_protocol_error() -> None:
    failed = {"task_id": "1", "task_status": "failed", "task_status_msg": "risk control"}
    assert wire.status_of(failed, Kind.TEXT, NOW, None).error_message == "risk control"
    with pytest.raises(errors.ProtocolError):
        wire.status_of({"task_id": "1", "task_status": "done"}, Kind.TEXT, NOW, None)
    with pytest.raises(errors.ProtocolError):
        wire.status_of({"task_id": "1", "task_status": "succeed"}, Kind.TEXT, NOW, None)


@given(st.sampled_from(list(Kind)), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True))
def test_task_references_round_trip(kind: Kind, service_id: str) -> None:
    assert wire.split_ref(wire.task_ref(kind, service_id)) == (kind, service_id)


@given(st.text(max_size=80))
def test_a_reference_that_splits_names_a_kind_and_a_safe_id(text: str) -> None:
    ref = wire.split_ref(text)
    if ref is not None:
        kind, service_id = ref
        assert wire.query_path(kind, service_id) == f"/v1/videos/{kind.path}/{service_id}"


@given(
    model=st.sampled_from(sorted(MODELS)),
    duration=st.one_of(st.none(), st.integers(1, 20)),
    resolution=st.sampled_from([None, "720P", "1080P", "480P"]),
    audio=st.sampled_from([None, True, False]),
    image=st.booleans(),
)
def test_what_validation_lets_through_fits_the_capability_map(
    model: str, duration: int | None, resolution: str | None, audio: bool | None, image: bool
) -> None:
    request = VideoRequest(
        prompt="a cat",
        model=model,
        duration=duration,
        resolution=resolution,
        audio=audio,
        image_url="https://x.test/a.png" if image else None,
    )
    try:
        kind, body = build_create(request, "kling-v2-6", None)
    except errors.RequestRejected as exc:
        assert exc.field
        return
    spec = MODELS[model]
    assert kind in spec.kinds
    assert body["model_name"] == model
    assert "duration" not in body or int(body["duration"]) in spec.durations
    assert body.get("mode", "std") in spec.modes
    assert "sound" not in body or spec.sound


def test_images_go_as_urls_or_bare_base64(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG-not-really")
    local = VideoRequest(
        prompt="a cat", image_url=picture, last_frame_url="data:image/png;base64,QUJD"
    )
    kind, body = build_create(local, "kling-v2-6", None)
    assert kind is Kind.IMAGE
    assert body["image"] == "iVBORy1ub3QtcmVhbGx5"
    assert body["image_tail"] == "QUJD"
    refs = VideoRequest(
        prompt="a cat", model="kling-v1-6", reference_urls=("https://x.test/a.png",)
    )
    kind, body = build_create(refs, "kling-v2-6", "https://host.test/cb")
    assert kind is Kind.MULTI_IMAGE and body["image_list"] == [{"image": "https://x.test/a.png"}]
    assert body["callback_url"] == "https://host.test/cb"
    with pytest.raises(errors.RequestRejected) as caught:
        build_create(
            VideoRequest(prompt="a", image_url=tmp_path / "missing.png"), "kling-v2-6", None
        )
    assert caught.value.field == "image_url"
