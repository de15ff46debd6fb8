"""The whole path over real HTTP: client → provider → emulator, and the CLI in a subprocess."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import (
    AuthenticationError,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskFailed,
    UnsupportedOperation,
)
from videoprovider.models import TaskState
from videoprovider.sync import VideoClient
from videoprovider_google.emulator import EmulatorConfig, Fault, RunningEmulator, run_in_thread
from videoprovider_google.emulator.service import SAMPLE_PNG
from videoprovider_google.testing import TEST_KEY


def test_generate_downloads_the_video_with_the_key_from_the_api_origin(
    google_client: VideoClient,
    google_emulator: RunningEmulator,
    google_clock: VirtualClock,
    tmp_path: Path,
) -> None:
    video = google_client.generate("a cat", tmp_path / "cat.mp4", duration=8)
    assert video.status.state is TaskState.COMPLETED
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert google_clock.monotonic() >= 60
    (download,) = google_emulator.service.requests_of("file")
    assert "x-goog-api-key" in download.headers
    assert len(google_emulator.service.requests_of("create")) == 1


def test_a_result_uri_on_another_host_never_receives_the_key(
    google_clock: VirtualClock, tmp_path: Path
) -> None:
    with run_in_thread(EmulatorConfig(public_files=True), clock=google_clock) as other:
        config = EmulatorConfig(api_keys=(TEST_KEY,), video_base_url=other.service.base_url)
        with (
            run_in_thread(config, clock=google_clock) as api,
            VideoClient(
                "google",
                config=False,
                environ={},
                clock=google_clock,
                api_key=TEST_KEY,
                base_url=api.base_url,
            ) as client,
        ):
            video = client.generate("a cat", tmp_path / "cat.mp4")
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert api.service.requests_of("file") == []
    (download,) = other.service.requests_of("file")
    assert "x-goog-api-key" not in download.headers
    assert all("x-goog-api-key" not in r.headers for r in other.service.requests)


def test_an_image_url_is_fetched_without_the_key_and_sent_inline(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    image = f"{google_emulator.service.base_url}/images/first.png"
    google_client.submit("a cat", image_url=image)
    service = google_emulator.service
    (fetch,) = [r for r in service.requests if r.path == "/images/first.png"]
    assert "x-goog-api-key" not in fetch.headers
    (create,) = service.requests_of("create")
    assert create.body["instances"][0]["image"] == {
        "bytesBase64Encoded": base64.b64encode(SAMPLE_PNG).decode(),
        "mimeType": "image/png",
    }


def test_an_image_url_that_fails_is_refused_before_any_submit(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    missing = f"{google_emulator.service.base_url}/v1beta/files/nope:download"
    with pytest.raises(RequestRejected) as info:
        google_client.submit("a cat", image_url=missing + ".png")
    assert info.value.field == "image_url"
    assert google_emulator.service.requests_of("create") == []


def test_invalid_values_are_refused_before_any_request(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    with pytest.raises(RequestRejected) as info:
        google_client.submit("a cat", duration=7)
    assert info.value.field == "duration" and "4, 6, 8" in str(info.value)
    assert google_emulator.service.requests == []


def test_cancel_of_a_veo_task_is_refused_naming_the_model_with_no_request(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    task = google_client.submit("a cat", model="veo-3.0-fast-generate-001")
    before = len(google_emulator.service.requests)
    with pytest.raises(UnsupportedOperation, match=r"veo-3\.0-fast-generate-001.*no cancel"):
        google_client.cancel(task)
    assert len(google_emulator.service.requests) == before
    assert google_client.status(task).state is not TaskState.CANCELED


def test_filtered_results_fail_with_the_reason(google_client: VideoClient) -> None:
    task = google_client.submit("a crowd [[filter]]")
    with pytest.raises(TaskFailed, match="safety"):
        google_client.wait(task)
    status = google_client.status(task)
    assert (status.state, status.error_code, status.video_url) == (
        TaskState.FAILED,
        "RAI_FILTERED",
        None,
    )


def test_a_failed_operation_carries_googles_error(google_client: VideoClient) -> None:
    task = google_client.submit("a cat [[fail]]")
    with pytest.raises(TaskFailed, match="INTERNAL"):
        google_client.wait(task)


def test_wait_survives_throttling_server_errors_and_drops(
    google_client: VideoClient, google_emulator: RunningEmulator, google_clock: VirtualClock
) -> None:
    task = google_client.submit("a cat")
    google_emulator.service.inject(
        Fault("429", match="get", retry_delay=20), Fault("503", match="get"), Fault("drop")
    )
    assert google_client.wait(task).state is TaskState.COMPLETED
    assert any(19.0 < s <= 20.0 for s in google_clock.sleeps), google_clock.sleeps


def test_submit_dropped_after_acceptance_is_never_resent(
    google_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    google_emulator.service.inject(Fault("drop_after", match="create"))
    with pytest.raises(SubmitOutcomeUnknown) as info:
        google_client.submit("a cat")
    assert info.value.request is not None and info.value.request.prompt == "a cat"
    assert len(google_emulator.service.operations) == 1  # it did land, once


def test_a_refused_key_is_an_authentication_error(google_emulator: RunningEmulator) -> None:
    with (
        VideoClient(
            "google",
            config=False,
            environ={},
            api_key="sk-test-wrong",
            base_url=google_emulator.base_url,
        ) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.submit("a cat")
    assert "sk-test-wrong" not in str(info.value)


def test_an_operation_the_service_does_not_know_is_unknown(google_client: VideoClient) -> None:
    status = google_client.status("google:models/veo-3.1-generate-preview/operations/nosuchop")
    assert status.state is TaskState.UNKNOWN


def test_cli_generate_against_an_emulator_process(tmp_path: Path) -> None:
    args = ["--port", "0", "--api-key", TEST_KEY, "--operation-seconds", "0.3"]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "videoprovider_google.emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1beta")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VIDEOPROVIDER_", "GEMINI_", "GOOGLE_"))
        }
        env.update(
            {
                "VIDEOPROVIDER_PROVIDER": "google",
                "GEMINI_BASE_URL": base_url,
                "GEMINI_API_KEY": TEST_KEY,
                "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
                "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_DATA_HOME": str(tmp_path / "xdg"),
                "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            }
        )
        cli = [sys.executable, "-m", "videoprovider.cli"]
        result = subprocess.run(
            [*cli, "generate", "a cat on the grass", "--duration", "8", "--out", "x.mp4"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "x.mp4").read_bytes()[4:8] == b"ftyp"
        assert TEST_KEY not in result.stdout + result.stderr
        # A Veo operation cannot be cancelled: exit 3, the model named, nothing sent.
        veo_task = "models/veo-3.0-generate-001/operations/abcdef123456"
        refused = subprocess.run(
            [*cli, "cancel", veo_task], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert refused.returncode == 3, refused.stderr
        assert "veo-3.0-generate-001" in refused.stderr
    finally:
        emulator.terminate()
        emulator.wait(10)
