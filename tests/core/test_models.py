import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from videoprovider import Task, TaskState, TaskStatus, VideoRequest
from videoprovider.models import MAX_PROMPT_CHARS, MAX_SEED


def error_for(**fields: object) -> str:
    with pytest.raises(ValidationError) as info:
        VideoRequest(**fields)
    return str(info.value)


def test_prompt_is_the_only_required_field() -> None:
    assert VideoRequest(prompt="a cat").model_dump(exclude_defaults=True) == {"prompt": "a cat"}
    assert "prompt" in error_for()


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_blank_prompt_is_rejected_with_the_fix(prompt: str) -> None:
    message = error_for(prompt=prompt)
    assert "prompt" in message and "must not be blank" in message


def test_overlong_prompt_names_the_limit() -> None:
    assert str(MAX_PROMPT_CHARS) in error_for(prompt="x" * (MAX_PROMPT_CHARS + 1))
    VideoRequest(prompt="x" * MAX_PROMPT_CHARS)


def test_overlong_negative_prompt_is_rejected() -> None:
    assert "negative_prompt" in error_for(prompt="p", negative_prompt="n" * 5001)


@pytest.mark.parametrize("duration", [0, -5, 601])
def test_duration_out_of_range_names_the_field(duration: int) -> None:
    message = error_for(prompt="p", duration=duration)
    assert "duration" in message and "between 1 and 600" in message


def test_duration_must_be_whole_seconds() -> None:
    assert "duration" in error_for(prompt="p", duration=2.5)


@pytest.mark.parametrize(("given", "stored"), [("720p", "720P"), (" 1080P ", "1080P")])
def test_resolution_is_normalised(given: str, stored: str) -> None:
    assert VideoRequest(prompt="p", resolution=given).resolution == stored


@pytest.mark.parametrize("bad", ["HD", "720", "1280*720", "P720"])
def test_bad_resolution_suggests_size(bad: str) -> None:
    message = error_for(prompt="p", resolution=bad)
    assert "resolution" in message and 'size="1280*720"' in message


@pytest.mark.parametrize(
    ("given", "stored"),
    [("1280*720", "1280*720"), ("1280x720", "1280*720"), ("832 X 480", "832*480")],
)
def test_size_accepts_common_spellings(given: str, stored: str) -> None:
    assert VideoRequest(prompt="p", size=given).size == stored


@pytest.mark.parametrize("bad", ["1280", "big", "1280*", "-1*5"])
def test_bad_size_is_rejected(bad: str) -> None:
    assert "WIDTH*HEIGHT" in error_for(prompt="p", size=bad)


def test_size_excludes_resolution_and_ratio() -> None:
    assert "either size" in error_for(prompt="p", size="1280*720", resolution="720P")
    assert "either size" in error_for(prompt="p", size="1280*720", aspect_ratio="16:9")


@pytest.mark.parametrize("bad", ["16/9", "0:1", "wide"])
def test_bad_aspect_ratio(bad: str) -> None:
    assert "aspect_ratio" in error_for(prompt="p", aspect_ratio=bad)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_seed_range(seed: int) -> None:
    assert "seed" in error_for(prompt="p", seed=seed)


@pytest.mark.parametrize("field", ["image_url", "last_frame_url", "audio_url"])
def test_media_must_be_a_fetchable_url_or_a_local_file(field: str) -> None:
    extra = {"image_url": "https://x/a.png"} if field == "last_frame_url" else {}
    message = error_for(prompt="p", **extra, **{field: "ftp://x/cat.png"})
    assert field in message and "http(s)" in message and "pathlib.Path" in message
    # A str is a URL: a local file is a Path (providers upload or refuse it), never a str.
    for local in ("/home/me/cat.png", "file:///home/me/cat.png", "C:\\me\\cat.png"):
        assert "pathlib.Path" in error_for(prompt="p", **extra, **{field: local})
    path = Path("/home/me/cat.png")
    assert getattr(VideoRequest(prompt="p", **extra, **{field: path}), field) == path


def test_last_frame_needs_first_frame() -> None:
    assert "needs image_url" in error_for(prompt="p", last_frame_url="https://x/b.png")


def test_unknown_field_is_rejected_pointing_at_extra() -> None:
    message = error_for(prompt="p", fps=30)
    assert "fps" in message


def test_request_is_immutable() -> None:
    request = VideoRequest(prompt="p")
    with pytest.raises(ValidationError):
        request.prompt = "q"  # type: ignore[misc]


settable = st.fixed_dictionaries(
    {"prompt": st.text(min_size=1, max_size=50).filter(str.strip)},
    optional={
        "negative_prompt": st.text(max_size=20),
        "duration": st.integers(1, 600),
        "resolution": st.sampled_from(["480P", "720p", "1080P"]),
        "seed": st.integers(0, MAX_SEED),
        "watermark": st.booleans(),
        "audio": st.booleans(),
        "image_url": st.just("https://example.com/a.png"),
        "extra": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
    },
)


@given(settable)
def test_request_round_trips_through_json(fields: dict[str, object]) -> None:
    request = VideoRequest(**fields)  # type: ignore[arg-type]
    assert VideoRequest.model_validate_json(request.model_dump_json()) == request


def test_state_progress_mapping() -> None:
    assert {s: s.default_progress for s in TaskState} == {
        TaskState.PENDING: 10,
        TaskState.PROCESSING: 50,
        TaskState.COMPLETED: 100,
        TaskState.FAILED: 0,
        TaskState.CANCELED: 0,
        TaskState.UNKNOWN: 0,
    }
    assert {s for s in TaskState if s.is_terminal} == {
        TaskState.COMPLETED,
        TaskState.FAILED,
        TaskState.CANCELED,
        TaskState.UNKNOWN,
    }


def test_status_progress_defaults_from_state_unless_reported() -> None:
    assert TaskStatus(provider="p", task_id="t", state=TaskState.PROCESSING).progress == 50
    assert (
        TaskStatus(provider="p", task_id="t", state=TaskState.PROCESSING, progress=73).progress
        == 73
    )
    with pytest.raises(ValidationError, match="progress"):
        TaskStatus(provider="p", task_id="t", state=TaskState.PROCESSING, progress=101)


def test_task_and_status_round_trip_through_json() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    task = Task(
        provider="fake",
        task_id="t1",
        request=VideoRequest(prompt="p"),
        submitted_at=when,
        request_id="r1",
    )
    status = TaskStatus(
        provider="fake",
        task_id="t1",
        state=TaskState.COMPLETED,
        video_url="https://v/x.mp4",
        finished_at=when,
        raw={"a": [1, {"b": None}]},
        usage={"video_duration": 5},
    )
    assert Task.model_validate_json(task.model_dump_json()) == task
    assert TaskStatus.model_validate_json(status.model_dump_json()) == status
    assert json.loads(status.model_dump_json())["state"] == "COMPLETED"


def test_blank_task_id_is_rejected() -> None:
    with pytest.raises(ValidationError, match="task_id"):
        Task(provider="fake", task_id=" ")


def test_reference_urls_are_checked_one_by_one_and_round_trip() -> None:
    message = error_for(prompt="p", reference_urls=["https://x/a.png", "ftp://x/cat.png"])
    assert "reference_urls[1]" in message and "http(s)" in message
    request = VideoRequest(prompt="p", reference_urls=["https://x/a.png", "https://x/b.mp4"])
    assert request.reference_urls == ("https://x/a.png", "https://x/b.mp4")
    assert VideoRequest.model_validate_json(request.model_dump_json()) == request
