"""The whole path over real HTTP: client → provider → emulator, and the CLI in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoprovider import (
    SubmitOutcomeUnknown,
    TaskFailed,
    TaskNotFound,
    TaskState,
    UnsupportedOperation,
    VideoClient,
)
from videoprovider.clock import VirtualClock
from videoprovider_dashscope.emulator import Fault, RunningEmulator, run_subprocess

KEY = "sk-test-e2e0123456789"


def test_generate_through_the_fixtures(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    dashscope_clock: VirtualClock,
    tmp_path: Path,
) -> None:
    video = dashscope_client.generate("a cat", tmp_path / "cat.mp4", duration=5)
    assert video.status.state is TaskState.COMPLETED
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert dashscope_clock.monotonic() >= 30  # a 30 s task, waited for on the virtual clock
    assert len(dashscope_emulator.service.requests_of("submit")) == 1


@pytest.mark.parametrize(
    "task_id",
    ["..", ".", "#", "a#b", "a%2Fb", "a\\b", "a/b", "a?b", "a\x00b", "a\nb", "x" * 129],
)
def test_a_malformed_task_id_is_refused_before_any_request(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator, task_id: str
) -> None:
    for call in (dashscope_client.status, dashscope_client.url):
        with pytest.raises(TaskNotFound, match="not a DashScope task id") as info:
            call(task_id)
        assert "letters, digits and hyphens" in str(info.value)
    assert dashscope_emulator.service.requests == []


def test_a_uuid_task_id_reaches_the_service(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator
) -> None:
    status = dashscope_client.status("0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2")
    assert status.state is TaskState.UNKNOWN
    (request,) = dashscope_emulator.service.requests
    assert request.path == "/api/v1/tasks/0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2"


def test_wait_survives_throttling_errors_and_drops(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    dashscope_clock: VirtualClock,
) -> None:
    task = dashscope_client.submit("a cat")
    dashscope_emulator.service.inject(
        Fault("429", match="status", retry_after=20),
        Fault("503", match="status"),
        Fault("drop", match="status"),
        Fault("html", match="status"),
    )
    assert dashscope_client.wait(task).state is TaskState.COMPLETED
    # The scheduler, not the provider, waits out the 429's retry-after (all polls pause).
    assert any(19.0 < s <= 20.0 for s in dashscope_clock.sleeps), dashscope_clock.sleeps
    assert len(dashscope_emulator.service.requests_of("status")) >= 5


def test_submit_dropped_after_acceptance_is_never_resent(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator
) -> None:
    dashscope_emulator.service.inject(Fault("drop_after", match="submit"))
    with pytest.raises(SubmitOutcomeUnknown) as info:
        dashscope_client.submit("a cat")
    assert info.value.request is not None and info.value.request.prompt == "a cat"
    assert len(dashscope_emulator.service.requests_of("submit")) == 1
    assert len(dashscope_emulator.service.tasks) == 1


def test_content_failure_raises_task_failed(dashscope_client: VideoClient) -> None:
    task = dashscope_client.submit("a cat [[fail]]")
    with pytest.raises(TaskFailed) as info:
        dashscope_client.wait(task)
    assert info.value.code == "DataInspectionFailed"


def test_cancel_is_refused_without_a_request(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator
) -> None:
    with pytest.raises(UnsupportedOperation) as info:
        dashscope_client.cancel("any-task-id")
    assert "PENDING" in str(info.value) and "cannot stop a running one" in str(info.value)
    assert dashscope_emulator.service.requests == []


@pytest.mark.dashscope_emulator(retention=60)
def test_expired_task_is_not_found(
    dashscope_client: VideoClient, dashscope_clock: VirtualClock
) -> None:
    from videoprovider import TaskNotFound

    task = dashscope_client.submit("a cat")
    dashscope_clock.advance(61)
    with pytest.raises(TaskNotFound):
        dashscope_client.wait(task)


def test_cli_generate_against_an_emulator_process(tmp_path: Path) -> None:
    with run_subprocess(
        "--api-key", KEY, "--task-seconds", "90", "--time-scale", "300", "--qps-limit", "0"
    ) as emu:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_"))
        }
        env.update(
            {
                "VIDEOPROVIDER_PROVIDER": "dashscope",
                "DASHSCOPE_BASE_URL": emu.base_url,
                "DASHSCOPE_API_KEY": KEY,
                "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
                "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_DATA_HOME": str(tmp_path / "xdg"),
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
        assert Path(result.stdout.strip()) == tmp_path / "x.mp4"
        assert (tmp_path / "x.mp4").read_bytes()[4:8] == b"ftyp"
        assert KEY not in result.stdout + result.stderr
        before = emu.stats()["total"]
        refused = subprocess.run(
            [*cli, "cancel", "some-task"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 3 and "Nothing was sent" in refused.stderr
        assert emu.stats()["total"] == before


def test_signed_video_urls_stay_out_of_logs(
    dashscope_client: VideoClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    video = dashscope_client.generate("a cat", tmp_path / "cat.mp4")
    assert video.status.video_url and "Signature=" in video.status.video_url
    assert "HTTP Request: GET" in caplog.text  # httpx did log the download...
    assert "Signature" not in caplog.text and "Expires=" not in caplog.text  # ...redacted
    assert "sk-test-emulator" not in caplog.text


@pytest.mark.parametrize("model", ["wan2.6-r2v-flash", "wan2.7-r2v-2026-06-12"])
def test_reference_to_video_end_to_end(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    tmp_path: Path,
    model: str,
) -> None:
    refs = ["https://cdn.example.com/cat.png", "https://cdn.example.com/dog.mov"]
    video = dashscope_client.generate(
        "character1 chases character2", tmp_path / "r2v.mp4", model=model, reference_urls=refs
    )
    assert video.status.state is TaskState.COMPLETED
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    [submit] = dashscope_emulator.service.requests_of("submit")
    sent = submit.body["input"]
    assert sent.get("reference_urls") == refs or [m["url"] for m in sent["media"]] == refs


def test_a_submit_refused_in_a_200_reply_is_a_refusal(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator
) -> None:
    from videoprovider import RequestRejected

    dashscope_emulator.service.inject(Fault("200_error", match="submit"))
    with pytest.raises(RequestRejected) as info:
        dashscope_client.submit("a cat")
    assert (
        not isinstance(info.value, SubmitOutcomeUnknown) and info.value.code == "InvalidParameter"
    )
    assert dashscope_emulator.service.tasks == {}


def test_a_task_missing_in_a_200_reply_is_unknown(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator
) -> None:
    task = dashscope_client.submit("a cat")
    dashscope_emulator.service.inject(Fault("200_error", match="status", code="TaskNotExist"))
    assert dashscope_client.status(task).state is TaskState.UNKNOWN
    assert len(dashscope_emulator.service.requests_of("status")) == 1
