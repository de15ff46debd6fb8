"""Gemini Omni through the Interactions API, behind the same provider, over loopback HTTP."""

from pathlib import Path

import pytest

from videoprovider.errors import RequestRejected, TaskCanceled, TaskFailed, TaskNotFound
from videoprovider.models import TaskState
from videoprovider.sync import VideoClient
from videoprovider_google.emulator import RunningEmulator

OMNI = "gemini-omni-1.1-flash"


def test_an_omni_video_is_made_through_a_background_interaction(
    google_client: VideoClient, google_emulator: RunningEmulator, tmp_path: Path
) -> None:
    video = google_client.generate("a marble run", tmp_path / "m.mp4", model=OMNI)
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert video.task.task_id.startswith("interactions/v1_")
    service = google_emulator.service
    (create,) = [r for r in service.requests if r.path == "/v1beta/interactions"]
    assert create.body == {
        "model": OMNI,
        "input": "a marble run",
        "background": True,
        "response_modalities": ["video"],
    }
    assert "x-goog-api-key" in create.headers
    assert "data" not in (video.status.raw or {}).get("output_video", {})


@pytest.mark.google_emulator(omni_inline=False)
def test_an_omni_video_uri_is_downloaded_with_the_key(
    google_client: VideoClient, google_emulator: RunningEmulator, tmp_path: Path
) -> None:
    video = google_client.generate("a marble run", tmp_path / "m.mp4", model=OMNI)
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    (download,) = google_emulator.service.requests_of("file")
    assert "x-goog-api-key" in download.headers


def test_images_go_as_content_blocks(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    google_client.submit("a cat", model=OMNI, image_url=image)
    (create,) = [r for r in google_emulator.service.requests if r.path == "/v1beta/interactions"]
    assert create.body["input"] == [
        {"type": "text", "text": "a cat"},
        {"type": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png"},
    ]


def test_states_run_queued_running_then_failed_with_the_error(
    google_client: VideoClient, google_clock: object
) -> None:
    task = google_client.submit("a cat [[fail]]", model=OMNI)
    assert google_client.status(task).state is TaskState.PENDING
    with pytest.raises(TaskFailed, match="INTERNAL"):
        google_client.wait(task)


@pytest.mark.parametrize("field", ["duration", "resolution", "aspect_ratio", "negative_prompt"])
def test_omni_refuses_parameters_the_interactions_api_does_not_document(
    google_client: VideoClient, google_emulator: RunningEmulator, field: str
) -> None:
    value = {"duration": 8, "resolution": "720P", "aspect_ratio": "16:9", "negative_prompt": "x"}
    with pytest.raises(RequestRejected) as info:
        google_client.submit("a cat", model=OMNI, **{field: value[field]})
    assert info.value.field == field
    assert google_emulator.service.requests == []


@pytest.mark.parametrize("task_id", ["interactions/", "interactions/a/b", "interactions/../x"])
def test_malformed_interaction_ids_send_nothing(
    google_client: VideoClient, google_emulator: RunningEmulator, task_id: str
) -> None:
    with pytest.raises(TaskNotFound):
        google_client.status(task_id)
    assert google_emulator.service.requests == []


def test_an_unknown_interaction_is_unknown(google_client: VideoClient) -> None:
    assert google_client.status("interactions/v1_nosuch").state is TaskState.UNKNOWN


def test_cancel_of_an_omni_task_cancels_the_interaction(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    task = google_client.submit("a marble run", model=OMNI)
    status = google_client.cancel(task)
    assert status.state is TaskState.CANCELED
    (cancel,) = [r for r in google_emulator.service.requests if r.path.endswith("/cancel")]
    assert cancel.method == "POST"
    assert cancel.path == "/v1beta/" + task.task_id + "/cancel"
    assert "x-goog-api-key" in cancel.headers
    assert google_client.status(task).state is TaskState.CANCELED
    with pytest.raises(TaskCanceled):
        google_client.wait(task)


def test_cancel_of_a_malformed_interaction_id_sends_nothing(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    with pytest.raises(TaskNotFound):
        google_client.cancel("interactions/../x")
    assert google_emulator.service.requests == []
