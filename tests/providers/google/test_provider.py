"""The Google provider against scripted replies: request shape, states, errors, submit rule."""

import json
from pathlib import Path

import httpx
import pytest

from videoprovider.errors import (
    AuthenticationError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskNotFound,
)
from videoprovider.models import TaskState, VideoRequest
from videoprovider.provider import single_attempt

from .conftest import KEY, NAME, MakeProvider, google_error, operation

pytestmark = pytest.mark.anyio
VIDEO = "https://generativelanguage.googleapis.com/v1beta/files/f1:download?alt=media"


def done(result: dict) -> httpx.Response:
    return operation(done=True, response={"generateVideoResponse": result})


async def test_submit_posts_predict_long_running_with_key_instances_and_parameters(
    make_provider: MakeProvider,
) -> None:
    provider, recorder, _ = make_provider()
    request = VideoRequest(
        prompt="a red ball",
        duration=8,
        resolution="1080P",
        aspect_ratio="9:16",
        negative_prompt="blur",
        extra={"person_generation": "allow_all"},
    )
    task = await provider.videoprovider_submit(request=request)
    (sent,) = recorder.requests
    assert task.task_id == NAME
    assert sent.method == "POST"
    assert sent.url.path == "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"
    assert sent.headers["x-goog-api-key"] == KEY
    assert json.loads(sent.content) == {
        "instances": [{"prompt": "a red ball"}],
        "parameters": {
            "aspectRatio": "9:16",
            "resolution": "1080p",
            "durationSeconds": 8,
            "negativePrompt": "blur",
            "personGeneration": "allow_all",
        },
    }


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (VideoRequest(prompt="x", duration=7), "duration"),
        (VideoRequest(prompt="x", resolution="480P"), "resolution"),
        (VideoRequest(prompt="x", resolution="1080P", duration=4), "duration"),
        (VideoRequest(prompt="x", aspect_ratio="1:1"), "aspect_ratio"),
        (VideoRequest(prompt="x", model="veo-9"), "model"),
        (VideoRequest(prompt="x", seed=1), "seed"),
        (VideoRequest(prompt="x", audio=True), "audio"),
        (VideoRequest(prompt="x", size="1280*720"), "size"),
        (VideoRequest(prompt="x", model="veo-2.0-generate-001", duration=4), "duration"),
        (
            VideoRequest(
                prompt="x",
                model="veo-3.1-lite-generate-preview",
                image_url=Path("a.png"),
                last_frame_url=Path("b.png"),
            ),
            "last_frame_url",
        ),
        (VideoRequest(prompt="x", reference_urls=(Path("a.png"),) * 4), "reference_urls"),
        (
            VideoRequest(prompt="x", extra={"person_generation": "allow_adult"}),
            "extra.person_generation",
        ),
        (VideoRequest(prompt="x", extra={"sampleCount": 2}), "extra.sampleCount"),
        (VideoRequest(prompt="x", image_url="oss://bucket/a.png"), "image_url"),
        (VideoRequest(prompt="x", image_url=Path("/nonexistent/a.png")), "image_url"),
        (VideoRequest(prompt="x", image_url=Path("notes.txt")), "image_url"),
    ],
)
async def test_invalid_requests_are_refused_naming_the_field_before_any_request(
    make_provider: MakeProvider, request_: VideoRequest, field: str
) -> None:
    provider, recorder, _ = make_provider()
    with pytest.raises(RequestRejected) as caught:
        await provider.videoprovider_submit(request=request_)
    assert caught.value.field == field
    assert recorder.requests == []


async def test_local_images_are_sent_inline_as_the_sdk_does(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    first, last = tmp_path / "first.png", tmp_path / "last.jpg"
    first.write_bytes(b"\x89PNG first")
    last.write_bytes(b"\xff\xd8 last")
    provider, recorder, _ = make_provider()
    await provider.videoprovider_submit(
        request=VideoRequest(prompt="x", image_url=first, last_frame_url=last)
    )
    instance = json.loads(recorder.requests[0].content)["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": "iVBORyBmaXJzdA==", "mimeType": "image/png"}
    assert instance["lastFrame"]["mimeType"] == "image/jpeg"


async def test_reference_images_go_as_assets(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider()
    ref = "data:image/webp;base64,UklGRg=="
    await provider.videoprovider_submit(request=VideoRequest(prompt="x", reference_urls=(ref,)))
    (image,) = json.loads(recorder.requests[0].content)["instances"][0]["referenceImages"]
    assert image == {
        "image": {"bytesBase64Encoded": "UklGRg==", "mimeType": "image/webp"},
        "referenceType": "asset",
    }


async def test_running_operation_is_processing_with_progress_by_age(
    make_provider: MakeProvider,
) -> None:
    provider, _, clock = make_provider(operation(), operation(), operation())
    task = await provider.videoprovider_submit(request=VideoRequest(prompt="x"))
    first = await provider.videoprovider_status(task_id=task.task_id)
    await clock.sleep(90)
    later = await provider.videoprovider_status(task_id=task.task_id)
    assert first.state is later.state is TaskState.PROCESSING
    assert 0 <= first.progress < later.progress <= 95


async def test_done_with_a_sample_is_completed_with_its_uri(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(done({"generatedSamples": [{"video": {"uri": VIDEO}}]}))
    status = await provider.videoprovider_status(task_id=NAME)
    assert status.state is TaskState.COMPLETED
    assert status.video_url == VIDEO
    assert await provider.videoprovider_url(task_id=NAME) == VIDEO


async def test_done_with_error_is_failed_with_googles_code_and_message(
    make_provider: MakeProvider,
) -> None:
    error = {"code": 13, "message": "Video generation failed.", "status": "INTERNAL"}
    provider, _, _ = make_provider(operation(done=True, error=error))
    status = await provider.videoprovider_status(task_id=NAME)
    assert (status.state, status.error_code) == (TaskState.FAILED, "INTERNAL")
    assert status.error_message == "Video generation failed."


async def test_filtered_result_is_failed_with_the_reason_never_completed(
    make_provider: MakeProvider,
) -> None:
    result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["people blocked"]}
    provider, _, _ = make_provider(done(result))
    status = await provider.videoprovider_status(task_id=NAME)
    assert (status.state, status.error_code) == (TaskState.FAILED, "RAI_FILTERED")
    assert "people blocked" in (status.error_message or "")
    assert status.video_url is None


async def test_done_without_video_or_error_is_failed(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(done({}))
    status = await provider.videoprovider_status(task_id=NAME)
    assert (status.state, status.error_code) == (TaskState.FAILED, "NO_VIDEO")


async def test_unknown_operation_is_unknown(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(google_error(404, "NOT_FOUND"))
    status = await provider.videoprovider_status(task_id=NAME)
    assert status.state is TaskState.UNKNOWN


@pytest.mark.parametrize("task_id", ["..", "a/b", "models/x/operations/a/../b", "operations/1"])
async def test_malformed_operation_names_send_nothing(
    make_provider: MakeProvider, task_id: str
) -> None:
    provider, recorder, _ = make_provider()
    with pytest.raises(TaskNotFound):
        await provider.videoprovider_status(task_id=task_id)
    assert recorder.requests == []


async def test_resource_exhausted_is_throttled_with_the_suggested_retry(
    make_provider: MakeProvider,
) -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
    provider, _, _ = make_provider(google_error(429, "RESOURCE_EXHAUSTED", details=[retry]))
    token = single_attempt.set(True)
    try:
        with pytest.raises(RateLimited) as caught:
            await provider.videoprovider_status(task_id=NAME)
    finally:
        single_attempt.reset(token)
    assert caught.value.retry_after == 37.0


async def test_invalid_argument_is_request_rejected(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(google_error(400, "INVALID_ARGUMENT", "bad prompt"))
    with pytest.raises(RequestRejected, match="bad prompt"):
        await provider.videoprovider_submit(request=VideoRequest(prompt="x"))
    assert len(recorder.requests) == 1


async def test_invalid_key_is_an_authentication_error_without_the_key(
    make_provider: MakeProvider,
) -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
    provider, _, _ = make_provider(google_error(400, "INVALID_ARGUMENT", details=[info]))
    with pytest.raises(AuthenticationError) as caught:
        await provider.videoprovider_submit(request=VideoRequest(prompt="x"))
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    "reply",
    [
        google_error(500, "INTERNAL"),
        google_error(503, "UNAVAILABLE"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(200, text="<html>"),
    ],
)
async def test_a_submit_that_may_have_landed_is_sent_once(
    make_provider: MakeProvider, reply: object
) -> None:
    provider, recorder, _ = make_provider(reply)
    with pytest.raises(SubmitOutcomeUnknown) as caught:
        await provider.videoprovider_submit(request=VideoRequest(prompt="x"))
    assert len(recorder.requests) == 1
    assert caught.value.request == VideoRequest(prompt="x")


async def test_a_submit_that_never_left_or_was_throttled_is_retried(
    make_provider: MakeProvider,
) -> None:
    provider, recorder, _ = make_provider(
        httpx.ConnectError("refused"), google_error(429, "RESOURCE_EXHAUSTED"), operation()
    )
    task = await provider.videoprovider_submit(request=VideoRequest(prompt="x"))
    assert task.task_id == NAME
    assert len(recorder.requests) == 3


async def test_no_connection_after_retries_is_unavailable(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(httpx.ConnectError("refused"), submit_retries=0)
    with pytest.raises(ProviderUnavailable, match="Nothing was submitted"):
        await provider.videoprovider_submit(request=VideoRequest(prompt="x"))


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        (VIDEO, True),
        ("https://generativelanguage.googleapis.com:443/v1beta/files/x", True),
        ("http://generativelanguage.googleapis.com/v1beta/files/x", False),
        ("https://generativelanguage.googleapis.com.evil.example/v1beta/files/x", False),
        ("https://storage.googleapis.com/bucket/video.mp4", False),
        ("https://generativelanguage.googleapis.com:8443/x", False),
    ],
)
def test_download_headers_carry_the_key_only_to_the_api_origin(
    make_provider: MakeProvider, url: str, keyed: bool
) -> None:
    provider, _, _ = make_provider()
    headers = provider.videoprovider_download_headers(url=url)
    assert (headers == {"x-goog-api-key": KEY}) is keyed
    assert keyed or headers is None
