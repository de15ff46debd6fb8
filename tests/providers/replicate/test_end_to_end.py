"""The whole path over real HTTP: client → provider → emulator, and the CLI in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoprovider import (
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskState,
    VideoClient,
)
from videoprovider.clock import VirtualClock
from videoprovider.provider import Operation
from videoprovider_replicate.emulator import Fault, RunningEmulator

TOKEN = "sk-test-e2e0123456789"


def test_generate_through_the_fixtures(
    replicate_client: VideoClient,
    replicate_emulator: RunningEmulator,
    replicate_clock: VirtualClock,
    tmp_path: Path,
) -> None:
    seen: list[int] = []
    video = replicate_client.generate(
        "a cat", tmp_path / "cat.mp4", duration=10, on_progress=lambda s: seen.append(s.progress)
    )
    assert video.status.state is TaskState.COMPLETED
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert replicate_clock.monotonic() >= 60  # a 60 s prediction, on the virtual clock
    assert any(0 < p < 100 and p not in (10, 50) for p in seen), seen  # from the logs
    assert video.status.video_url_expires_at is not None
    assert len(replicate_emulator.service.requests_of("create")) == 1


def test_cancel_really_cancels(
    replicate_client: VideoClient, replicate_emulator: RunningEmulator
) -> None:
    assert Operation.CANCEL in replicate_client.capabilities
    task = replicate_client.submit("a cat")
    assert replicate_client.cancel(task).state is TaskState.CANCELED
    assert replicate_client.status(task).state is TaskState.CANCELED
    (prediction,) = replicate_emulator.service.predictions.values()
    assert prediction.canceled_at is not None


def test_cancelling_a_finished_prediction_reports_it_finished(
    replicate_client: VideoClient,
) -> None:
    task = replicate_client.submit("a cat")
    assert replicate_client.wait(task).state is TaskState.COMPLETED
    status = replicate_client.cancel(task)
    assert status.state is TaskState.COMPLETED and status.video_url


def test_schema_refusal_happens_before_any_create(
    replicate_client: VideoClient, replicate_emulator: RunningEmulator
) -> None:
    with pytest.raises(RequestRejected) as info:
        replicate_client.submit("a cat", duration=7)
    assert info.value.field == "duration" and "5, 10" in str(info.value)
    assert replicate_emulator.service.requests_of("create") == []


def test_wait_survives_throttling_and_server_errors(
    replicate_client: VideoClient,
    replicate_emulator: RunningEmulator,
    replicate_clock: VirtualClock,
) -> None:
    task = replicate_client.submit("a cat")
    replicate_emulator.service.inject(
        Fault("429", match="get", retry_after=20), Fault("503", match="get"), Fault("drop")
    )
    assert replicate_client.wait(task).state is TaskState.COMPLETED
    assert any(19.0 < s <= 20.0 for s in replicate_clock.sleeps), replicate_clock.sleeps


def test_submit_dropped_after_acceptance_is_never_resent(
    replicate_client: VideoClient, replicate_emulator: RunningEmulator
) -> None:
    replicate_emulator.service.inject(Fault("drop_after", match="create"))
    with pytest.raises(SubmitOutcomeUnknown) as info:
        replicate_client.submit("a cat")
    assert info.value.request is not None and info.value.request.prompt == "a cat"
    assert len(replicate_emulator.service.predictions) == 1  # it did land, once


def test_output_is_gone_an_hour_after_completion(
    replicate_client: VideoClient, replicate_clock: VirtualClock
) -> None:
    task = replicate_client.submit("a cat")
    assert replicate_client.wait(task).state is TaskState.COMPLETED
    replicate_clock.advance(3600)
    status = replicate_client.status(task)
    assert status.state is TaskState.UNKNOWN and status.error_code == "data_removed"


@pytest.mark.replicate_emulator(prediction_seconds=30)
def test_failed_prediction_carries_the_models_error(replicate_client: VideoClient) -> None:
    task = replicate_client.submit("a cat [[fail]]")
    status = replicate_client.status(task)
    assert status.state is TaskState.PENDING
    with pytest.raises(TaskFailed, match="E005"):
        replicate_client.wait(task)


def test_cli_generate_against_an_emulator_process(tmp_path: Path) -> None:
    args = ["--port", "0", "--api-token", TOKEN, "--prediction-seconds", "0.3"]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "videoprovider_replicate.emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VIDEOPROVIDER_", "REPLICATE_"))
        }
        env.update(
            {
                "VIDEOPROVIDER_PROVIDER": "replicate",
                "REPLICATE_BASE_URL": base_url,
                "REPLICATE_API_TOKEN": TOKEN,
                "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
                "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_DATA_HOME": str(tmp_path / "xdg"),
                "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            }
        )
        cli = [sys.executable, "-m", "videoprovider.cli"]
        result = subprocess.run(
            [*cli, "generate", "a cat on the grass", "--out", "x.mp4"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "x.mp4").read_bytes()[4:8] == b"ftyp"
        assert TOKEN not in result.stdout + result.stderr
        assert list((tmp_path / "xdg-cache").rglob("*.json")), "the schema was not cached"
    finally:
        emulator.terminate()
        emulator.wait(10)
