"""The whole path over real HTTP: client → fal provider → emulator, and the CLI in a process."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import RequestRejected, SubmitOutcomeUnknown, TaskFailed
from videoprovider.models import TaskState
from videoprovider.sync import VideoClient
from videoprovider_fal.emulator import EmulatorConfig, Fault, RunningEmulator, run_in_thread
from videoprovider_fal.testing import TEST_KEY, emulator_settings


def test_generate_through_the_fixtures(
    fal_client: VideoClient, fal_emulator: RunningEmulator, fal_clock: VirtualClock, tmp_path: Path
) -> None:
    seen: list[Any] = []
    video = fal_client.generate("a cat", tmp_path / "cat.mp4", duration=5, on_progress=seen.append)
    assert video.status.state is TaskState.COMPLETED
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    assert fal_clock.monotonic() >= 60  # 10 s queued + 50 s running, on the virtual clock
    assert TaskState.PROCESSING in {s.state for s in seen}
    (submit,) = fal_emulator.service.requests_of("submit")
    assert submit.path == "/fal-ai/wan-25-preview/text-to-video"
    assert submit.body == {"prompt": "a cat", "duration": "5"}
    # Status and result live under owner/app only, never the endpoint's sub-path.
    assert {r.path for r in fal_emulator.service.requests_of("status")} == {
        f"/fal-ai/wan-25-preview/requests/{video.task.task_id.split(':')[1]}/status"
    }


def test_queue_position_is_reported_while_queued(fal_client: VideoClient) -> None:
    first, second = fal_client.submit("a cat"), fal_client.submit("a dog")
    assert fal_client.status(first).queue_position == 0
    status = fal_client.status(second)
    assert status.state is TaskState.PENDING and status.queue_position == 1


def test_the_key_stays_on_the_configured_origin(fal_clock: VirtualClock, tmp_path: Path) -> None:
    # The queue's replies point status/result/cancel at another host: it must see nothing.
    with run_in_thread(EmulatorConfig(api_keys=(TEST_KEY,)), clock=fal_clock) as elsewhere:
        config = EmulatorConfig(api_keys=(TEST_KEY,), reply_base_url=elsewhere.base_url)
        with run_in_thread(config, clock=fal_clock) as emulator:
            settings = emulator_settings(emulator)
            with VideoClient("fal", config=False, environ={}, clock=fal_clock, **settings) as c:
                task = c.submit("a cat")
                c.cancel(c.submit("a dog"))
                c.generate("a bird", tmp_path / "bird.mp4")
                c.wait(task)
    assert elsewhere.service.requests == []
    service = emulator.service
    keyed = [r for r in service.requests if "authorization" in r.headers]
    assert {r.path.split("/")[1] for r in keyed} == {"fal-ai"}
    assert all(r.headers["authorization"].startswith("Key …") for r in keyed)
    # The schema and the CDN file are fetched without the key.
    public = service.requests_of("schema") + service.requests_of("file")
    assert public and all("authorization" not in r.headers for r in public)


def test_cancel_really_cancels_a_queued_request(
    fal_client: VideoClient, fal_emulator: RunningEmulator
) -> None:
    task = fal_client.submit("a cat")
    assert fal_client.cancel(task).state is TaskState.CANCELED
    assert fal_client.status(task).state is TaskState.CANCELED
    (queued,) = fal_emulator.service.queue.values()
    assert queued.canceled_at is not None


def test_cancel_of_a_running_request_asks_the_runner_and_reports_what_it_did(
    fal_client: VideoClient, fal_emulator: RunningEmulator, fal_clock: VirtualClock
) -> None:
    task = fal_client.submit("a cat")
    fal_clock.advance(20)  # on the runner now
    assert fal_client.status(task).state is TaskState.PROCESSING
    assert fal_client.cancel(task).state is TaskState.CANCELED
    (cancel,) = fal_emulator.service.requests_of("cancel")
    assert cancel.method == "PUT"


def test_cancelling_a_finished_request_reports_it_finished(fal_client: VideoClient) -> None:
    task = fal_client.submit("a cat")
    assert fal_client.wait(task).state is TaskState.COMPLETED
    status = fal_client.cancel(task)
    assert status.state is TaskState.COMPLETED and status.video_url


def test_a_failed_request_carries_the_models_message(fal_client: VideoClient) -> None:
    task = fal_client.submit("a cat [[fail]]")
    with pytest.raises(TaskFailed, match="flagged"):
        fal_client.wait(task)
    assert fal_client.status(task).state is TaskState.FAILED


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"extra": {"num_inference_steps": 4}}, "extra.num_inference_steps"),
        ({"duration": 7}, "duration"),
        ({"resolution": "360P"}, "resolution"),
        ({"model": "fal-ai/kling-video/v2.1/master/text-to-video", "seed": 3}, "seed"),
        (
            {"model": "fal-ai/kling-video/v2.1/master/text-to-video", "extra": {"cfg_scale": 2}},
            "extra.cfg_scale",
        ),
        ({"model": "fal-ai/no-such/endpoint"}, "model"),
        ({"model": "fal-ai/ltx-2.3/text-to-video", "prompt_extend": True}, "prompt_extend"),
        ({"model": "fal-ai/veo3", "aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"prompt": "x" * 801}, "prompt"),
    ],
)
def test_the_schema_refuses_before_any_submit(
    fal_client: VideoClient, fal_emulator: RunningEmulator, kwargs: dict[str, Any], field: str
) -> None:
    prompt = kwargs.pop("prompt", "a cat")
    with pytest.raises(RequestRejected) as info:
        fal_client.submit(prompt, **kwargs)
    assert info.value.field == field
    assert field.split(".")[-1] in str(info.value)
    assert fal_emulator.service.requests_of("submit") == []


@pytest.mark.parametrize(
    ("model", "kwargs", "sent"),
    [
        ("fal-ai/veo3", {"duration": 8, "audio": True}, {"duration": "8s", "generate_audio": True}),
        (
            "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
            {"duration": 6, "prompt_extend": False},
            {"duration": "6", "prompt_optimizer": False},
        ),
        (
            "fal-ai/wan/v2.2-a14b/text-to-video",
            {"resolution": "720P", "extra": {"num_frames": 81}},
            {"resolution": "720p", "num_frames": 81},
        ),
        (
            "fal-ai/kling-video/v2.1/master/text-to-video",
            {"aspect_ratio": "9:16", "negative_prompt": "blur"},
            {"aspect_ratio": "9:16", "negative_prompt": "blur"},
        ),
        (
            "fal-ai/ltx-2.3/text-to-video",
            {"duration": 8, "resolution": "1440P"},
            {"duration": 8, "resolution": "1440p"},
        ),
    ],
)
def test_request_fields_map_onto_each_endpoints_inputs(
    fal_client: VideoClient,
    fal_emulator: RunningEmulator,
    model: str,
    kwargs: dict[str, Any],
    sent: dict[str, Any],
) -> None:
    task = fal_client.submit("a cat", model=model, **kwargs)
    (submit,) = fal_emulator.service.requests_of("submit")
    assert submit.path == f"/{model}" and submit.body == {"prompt": "a cat", **sent}
    assert fal_client.wait(task).state is TaskState.COMPLETED


def test_a_throttled_submit_is_retried_and_a_lost_reply_is_never_resent(
    fal_client: VideoClient, fal_emulator: RunningEmulator
) -> None:
    fal_emulator.service.inject(Fault("429", match="submit"))
    assert fal_client.submit("a cat").task_id.startswith("fal-ai/wan-25-preview:")
    fal_emulator.service.inject(Fault("drop_after", match="submit"))
    with pytest.raises(SubmitOutcomeUnknown):
        fal_client.submit("a dog")
    assert len(fal_emulator.service.requests_of("submit")) == 3
    assert len(fal_emulator.service.queue) == 2


def test_priority_is_sent_as_fals_header(fal_emulator: RunningEmulator, fal_clock: Any) -> None:
    settings = {**emulator_settings(fal_emulator), "priority": "low"}
    with VideoClient("fal", config=False, environ={}, clock=fal_clock, **settings) as client:
        client.submit("a cat")
    (submit,) = fal_emulator.service.requests_of("submit")
    assert submit.headers["x-fal-queue-priority"] == "low"


def test_cli_generate_against_an_emulator_process(tmp_path: Path) -> None:
    args = ["--port", "0", "--api-key", TEST_KEY, "--queue-seconds", "0.1", "--run-seconds", "0.2"]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "videoprovider_fal.emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOPROVIDER_", "FAL_"))}
        env.update(
            {
                "VIDEOPROVIDER_PROVIDER": "fal",
                "FAL_BASE_URL": base_url,
                "FAL_KEY": TEST_KEY,
                "VIDEOPROVIDER_FAL_SCHEMA_URL": f"{base_url}/api/openapi/queue/openapi.json",
                "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
                "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
                "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_DATA_HOME": str(tmp_path / "xdg"),
                "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
            }
        )
        result = subprocess.run(
            [sys.executable, "-m", "videoprovider.cli", "generate", "a cat", "--out", "x.mp4"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "x.mp4").read_bytes()[4:8] == b"ftyp"
        assert TEST_KEY not in result.stdout + result.stderr
        assert list((tmp_path / "xdg-cache").rglob("*.json")), "the schema was not cached"
    finally:
        emulator.terminate()
        emulator.wait(10)


def test_the_cli_shows_a_queued_tasks_position(
    fal_client: VideoClient, fal_emulator: RunningEmulator, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from videoprovider.cli import main

    fal_client.submit("a cat")
    task = fal_client.submit("a dog")
    env = {
        "VIDEOPROVIDER_PROVIDER": "fal",
        "VIDEOPROVIDER_CONFIG": "",
        "FAL_BASE_URL": fal_emulator.base_url,
        "FAL_KEY": TEST_KEY,
        "VIDEOPROVIDER_FAL_SCHEMA_URL": fal_emulator.schema_url,
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path),
    }
    result = CliRunner().invoke(main, ["status", task.task_id], env=env)
    assert result.exit_code == 0, result.output
    assert f"{task.task_id}  PENDING" in result.output
    assert "queue position 1" in result.output
