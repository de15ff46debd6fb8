import errno
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from videoprovider import GeneratedVideo, Task, TaskState, TaskStatus
from videoprovider.cli import main

InstallDist = Any  # the install_dist fixture from tests/conftest.py
FAST = {
    "VIDEOPROVIDER_POLL_INTERVAL": "0.001",
    "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.002",
    "VIDEOPROVIDER_FAKE_SECONDS": "0.01",
}
SECRET = "sk-test-verysecretvalue0123456789"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> tuple[int, Any]:
    code, out, _ = run("--json", *args)
    return code, json.loads(out)


def test_generate_saves_the_video_and_prints_its_path(tmp_path: Path) -> None:
    code, out, err = run("generate", "A cat running on the grass", "--out", "cat.mp4")
    assert code == 0, err
    assert out.strip() == str(tmp_path / "cat.mp4")
    assert (tmp_path / "cat.mp4").read_bytes()[4:8] == b"ftyp"
    assert "submitted task" in err and "completed" in err


def test_generate_json_is_one_generated_video_document(tmp_path: Path) -> None:
    code, doc = run_json("generate", "a cat", "--out", "cat.mp4", "--duration", "5")
    assert code == 0
    video = GeneratedVideo.model_validate(doc)
    assert video.status.state is TaskState.COMPLETED and video.task.request is not None
    assert video.task.request.duration == 5 and Path(video.path).stat().st_size == video.bytes


def test_quiet_prints_only_the_result() -> None:
    code, out, err = run("--quiet", "generate", "a cat", "--out", "cat.mp4")
    assert code == 0 and err == "" and out.strip().endswith("cat.mp4")


def test_generate_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    (tmp_path / "cat.mp4").write_bytes(b"mine")
    code, out, err = run("generate", "a cat", "--out", "cat.mp4")
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert (tmp_path / "cat.mp4").read_bytes() == b"mine" and out == ""
    assert run("generate", "a cat", "--out", "cat.mp4", "--overwrite")[0] == 0


def test_generate_to_an_unwritable_place_submits_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = run("generate", "a cat", "--out", "notes.txt/cat.mp4")
    assert code == 1 and out == "" and "Traceback" not in err
    assert str(tmp_path / "notes.txt" / "cat.mp4") in err and "Nothing was submitted" in err
    assert run_json("tasks", "list")[1] == []


def test_generate_that_cannot_save_prints_the_command_that_collects_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("videoprovider.download.os.fsync", disk_full)
        code, out, err = run("generate", "a cat", "--out", "cat.mp4")
    assert code == 1 and out == "" and "Traceback" not in err
    assert "No space left on device" in err and not (tmp_path / "cat.mp4").exists()
    command = err.split("collect its video with: ", 1)[1].split(" (or: ", 1)[0]
    assert command.startswith("videoprovider download fake:fake-")
    (row,) = run_json("tasks", "list")[1]
    assert row["phase"] == "finished" and row["state"] == "COMPLETED"
    code, out, _ = run(*shlex.split(command)[1:])
    assert code == 0 and out.strip() == str(tmp_path / "cat.mp4")
    assert run_json("tasks", "list")[1][0]["phase"] == "collected"


def test_submit_then_every_task_command_in_separate_invocations(tmp_path: Path) -> None:
    code, doc = run_json("submit", "a cat", "--seed", "7", "--no-watermark")
    assert code == 0
    task = Task.model_validate(doc)
    assert task.request is not None and task.request.seed == 7
    assert task.request.watermark is False
    code, doc = run_json("wait", task.task_id)
    assert code == 0 and TaskStatus.model_validate(doc).state is TaskState.COMPLETED
    code, doc = run_json("status", task.task_id)
    assert TaskStatus.model_validate(doc).state is TaskState.COMPLETED
    code, doc = run_json("url", task.task_id)
    assert code == 0 and doc["url"].endswith(".mp4") and doc["task_id"] == task.task_id
    code, doc = run_json("download", task.task_id, "--out", "v.mp4")
    assert code == 0 and doc["bytes"] == (tmp_path / "v.mp4").stat().st_size
    code, out, _ = run("status", task.task_id)
    assert out.split()[:2] == [task.task_id, "COMPLETED"]


def test_the_task_document_printed_by_submit_is_accepted_verbatim() -> None:
    _, out, _ = run("--json", "submit", "a cat")
    code, doc = run_json("wait", out)
    assert code == 0 and doc["task_id"] == json.loads(out)["task_id"]


def test_cancel_on_the_fake() -> None:
    _, doc = run_json("submit", "a cat", "--extra", 'fake={"scenario": "stuck"}')
    code, status = run_json("cancel", doc["task_id"])
    assert code == 0 and status["state"] == "CANCELED"


def test_a_cancel_from_another_process_is_remembered_and_never_resumed(
    tmp_path: Path,
) -> None:
    # A task that never ends by itself: on a loaded machine a timed one could finish first.
    code, task = run_json("submit", "a cat", "--extra", 'fake={"scenario": "stuck"}')
    assert code == 0
    cancel = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "--json", "cancel", task["task_id"]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout)["state"] == "CANCELED"
    code, entry = run_json("tasks", "show", task["task_id"])
    assert code == 0 and (entry["phase"], entry["state"]) == ("finished", "CANCELED")
    code, out, _ = run("tasks", "resume")
    assert code == 0 and out.strip() == "nothing to resume"
    code, status = run_json("status", task["task_id"])
    assert code == 0 and status["state"] == "CANCELED"
    assert list(tmp_path.glob("*.mp4")) == []


def test_request_options_are_validated_with_the_option_name() -> None:
    code, _, err = run("generate", "a cat", "--out", "x.mp4", "--duration", "0")
    assert code == 2 and "--duration" in err and "Traceback" not in err


def test_fake_refuses_an_unoffered_resolution_naming_the_allowed_ones(tmp_path: Path) -> None:
    code, out, err = run("generate", "a cat", "--resolution", "9000P", "--out", "cat.mp4")
    assert code == 1 and out == ""
    assert "resolution 9000P" in err and "480P, 720P, 1080P" in err and "Traceback" not in err
    assert not (tmp_path / "cat.mp4").exists()


def test_bad_extra_is_a_usage_error() -> None:
    assert run("submit", "a cat", "--extra", "novalue")[0] == 2


def test_failed_task_exits_1(tmp_path: Path) -> None:
    code, _, err = run(
        "generate", "a cat", "--out", "x.mp4", "--extra", 'fake={"scenario": "fail"}'
    )
    assert code == 1 and "failed" in err and not (tmp_path / "x.mp4").exists()


def test_json_error_document_on_failure() -> None:
    code, out, _ = run(
        "--json", "submit", "a cat", "--extra", 'fake={"scenario": "reject_content"}'
    )
    error = json.loads(out)["error"]
    assert code == 1 and error["type"] == "ContentRejected" and error["provider"] == "fake"


def test_timeout_exits_4_and_names_the_task() -> None:
    code, _, err = run(
        "generate",
        "a cat",
        "--out",
        "x.mp4",
        "--timeout",
        "0.01",
        "--extra",
        'fake={"scenario": "stuck"}',
    )
    assert code == 4 and "fake-" in err


def test_unreachable_provider_exits_5(monkeypatch: pytest.MonkeyPatch) -> None:
    _, doc = run_json("submit", "a cat", "--extra", 'fake={"scenario": "unavailable"}')
    code, _, err = run("status", doc["task_id"])
    assert code == 5 and "unavailable" in err


def test_unknown_provider_exits_2_listing_installed() -> None:
    code, _, err = run("--provider", "nope", "generate", "a cat", "--out", "x.mp4")
    assert code == 2 and "fake" in err and "dashscope" in err and "Traceback" not in err


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(main, ["--debug", "--provider", "nope", "status", "x"])
    assert result.exit_code == 1 and result.exception is not None


def test_unsupported_operation_exits_3_and_sends_nothing(nocancel_provider: ModuleType) -> None:

    code, _, err = run("--provider", "nocancel", "cancel", "n1")
    assert code == 3 and "cannot be stopped" in err and "Nothing was sent" in err
    assert nocancel_provider.CALLS == []
    code, out, _ = run("--json", "providers")
    row = next(r for r in json.loads(out) if r["name"] == "nocancel")
    assert row["capabilities"] == ["submit", "status"]
    assert row["unsupported"] == {"cancel": "Tasks here cannot be stopped."}


def test_providers_lists_capabilities_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    code, out, _ = run("providers")
    assert code == 0 and SECRET not in out
    fake = next(line for line in out.splitlines() if " fake " in line)
    assert fake.startswith("*") and "submit, status, url, cancel" in fake
    code, rows = run_json("providers")
    by_name = {r["name"]: r for r in rows}
    assert by_name["fake"]["configured"] and by_name["fake"]["selected"]
    assert by_name["dashscope"]["error"] is None, by_name["dashscope"]["error"]
    assert "cancel" not in by_name["dashscope"]["capabilities"]
    assert by_name["dashscope"]["configured"]


def test_config_show_names_sources_and_redacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "videoprovider.toml").write_text("wait_timeout = 99\n[fake]\nseed = 4\n")
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    code, doc = run_json("config", "show")
    assert code == 0 and doc["file"] == str(tmp_path / "videoprovider.toml")
    assert doc["videoprovider"]["wait_timeout"] == {
        "value": 99.0,
        "source": f"file ({tmp_path / 'videoprovider.toml'})",
    }
    assert doc["videoprovider"]["poll_interval"]["source"] == (
        "environment (VIDEOPROVIDER_POLL_INTERVAL)"
    )
    assert doc["fake"]["seed"]["value"] == 4
    for args in (
        ("config", "show"),
        ("--provider", "dashscope", "config", "show"),
        ("--json", "--provider", "dashscope", "config", "show"),
    ):
        code, out, err = run(*args)
        assert code == 0 and SECRET not in out + err


def test_config_path_lists_the_search_order(tmp_path: Path) -> None:
    (tmp_path / "videoprovider.toml").write_text("")
    code, doc = run_json("config", "path")
    assert code == 0 and doc["paths"][0] == str(tmp_path / "videoprovider.toml")
    assert doc["active"] == doc["paths"][0] and doc["paths"][1].startswith(str(tmp_path / "xdg"))


def test_no_command_output_contains_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOPROVIDER_DASHSCOPE_API_KEY", SECRET)
    _, doc = run_json("submit", "a cat")
    for args in (
        ("providers",),
        ("config", "show"),
        ("config", "path"),
        ("status", doc["task_id"]),
        ("wait", doc["task_id"]),
        ("--provider", "dashscope", "cancel", "x"),
        ("--debug", "--provider", "dashscope", "config", "show"),
    ):
        for prefix in ((), ("--json",)):
            result = CliRunner().invoke(main, [*prefix, *args])
            assert SECRET not in result.stdout + result.stderr, args


def test_help_lists_exit_codes() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Exit codes" in out and "not supported by the provider" in out


def test_generate_as_a_real_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "generate", "a cat", "--out", "cat.mp4"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_stops_waiting_without_canceling(tmp_path: Path, inherited: str) -> None:
    import signal

    # "ignored": started as a script's background job (or by some CI runners) is, with
    # SIGINT ignored, which Python then leaves ignored; the wait must stop all the same.
    disposition = signal.SIG_IGN if inherited == "ignored" else signal.SIG_DFL
    env = {**os.environ, "VIDEOPROVIDER_POLL_INTERVAL": "0.05", "PYTHONFAULTHANDLER": "1"}
    cli = [sys.executable, "-m", "videoprovider.cli"]
    submitted = subprocess.run(
        [*cli, "--json", "submit", "a cat", "--extra", 'fake={"scenario": "stuck"}'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    task_id = json.loads(submitted.stdout)["task_id"]
    waiting = subprocess.Popen(
        [*cli, "wait", task_id],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, disposition),
    )
    assert waiting.stderr is not None
    first = waiting.stderr.readline()  # the first progress line: the wait is under way
    assert "pending" in first or "processing" in first
    waiting.send_signal(signal.SIGINT)
    try:
        _, rest = waiting.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        waiting.send_signal(signal.SIGABRT)  # faulthandler prints where every thread is
        pytest.fail(f"wait did not stop on SIGINT:\n{waiting.communicate()[1][-8000:]}")
    assert waiting.returncode == 130
    assert task_id in rest and "was not canceled" in rest and f"wait {task_id}" in rest
    assert "Traceback" not in rest
    after = subprocess.run(
        [*cli, "--json", "status", task_id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(after.stdout)["state"] in ("PENDING", "PROCESSING")  # not CANCELED


def test_live_progress_bars_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoprovider import TaskState, TaskStatus
    from videoprovider.cli.progress import Progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with Progress(quiet=False) as bar:
        assert bar.live
        for state, pct in ((TaskState.PENDING, 10), (TaskState.PROCESSING, 60)):
            bar.status(TaskStatus(provider="p", task_id="t", state=state, progress=pct))
        bar.bytes(500_000, 1_000_000)
    err = capsys.readouterr().err
    assert "processing" in err and "download" in err and "0.5/1.0 MB" in err
    with Progress(quiet=True) as silent:
        assert not silent.live


def test_cli_journals_by_default_and_tasks_commands_read_it(tmp_path: Path) -> None:
    code, doc = run_json("generate", "a cat", "--out", "cat.mp4")
    assert code == 0
    task_id = doc["task"]["task_id"]
    code, rows = run_json("tasks", "list")
    assert code == 0 and [r["task_id"] for r in rows] == [task_id]
    assert rows[0]["phase"] == "collected" and rows[0]["path"] == str(tmp_path / "cat.mp4")
    code, entry = run_json("tasks", "show", rows[0]["id"][:8])
    assert code == 0 and entry["task_id"] == task_id and entry["request"]["prompt"] == "a cat"
    assert run("tasks", "show", "nope")[0] == 1
    code, doc = run_json("tasks", "resume")
    assert code == 0 and doc == []
    assert run_json("tasks", "prune", "--older-than", "1h")[1]["removed"] == 0
    assert run_json("tasks", "prune", "--older-than", "0s")[1]["removed"] == 1
    assert run("tasks", "prune", "--older-than", "soon")[0] == 2


def test_no_journal_flag(tmp_path: Path) -> None:
    assert run("--no-journal", "submit", "a cat")[0] == 0
    assert run_json("tasks", "list")[1] == []


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "A cat", "--json"],
        ["submit", "A cat", "--provider", "fake", "--quiet", "--json"],
        ["submit", "A cat", "-p", "fake", "-q", "--json", "--no-journal"],
    ],
)
def test_global_options_work_after_the_subcommand(args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 0, err
    assert Task.model_validate_json(out).provider == "fake"


def test_global_options_after_nested_and_task_commands() -> None:
    code, out, _ = run("submit", "A cat", "--json")
    task_id = json.loads(out)["task_id"]
    code, out, err = run("wait", task_id, "--provider", "fake", "--quiet", "--json")
    assert code == 0 and err == "" and json.loads(out)["state"] == "COMPLETED"
    code, out, _ = run("tasks", "list", "--json")
    assert code == 0 and [r["task_id"] for r in json.loads(out)] == [task_id]


def test_a_global_option_after_the_subcommand_wins() -> None:
    code, _, err = run("--provider", "fake", "submit", "A cat", "--provider", "nope")
    assert code == 2 and "nope" in err
    code, _, err = run("--provider", "nope", "submit", "A cat", "--provider", "fake")
    assert code == 0, err
    journaled = len(run_json("tasks", "list")[1])
    assert run("submit", "A cat", "--no-journal")[0] == 0
    assert len(run_json("tasks", "list")[1]) == journaled


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (["submit", " "], "PROMPT"),
        (["submit", "a cat", "--duration", "0"], "--duration"),
        (["submit", "a cat", "--duration", "abc"], "--duration"),
        (["submit"], "PROMPT"),
        (["tasks", "list", "--state", "bogus"], "--state"),
        (["submitt", "a cat"], None),
        (["--nope"], None),
        (["tasks", "prune", "--older-than", "soon"], "--older-than"),
        (["submit", "a cat", "--extra", "novalue"], "--extra"),
        (["status", "{not json"], "TASK"),
        (["tasks"], None),
    ],
)
def test_every_error_with_json_is_a_json_document(args: list[str], param: str | None) -> None:
    for where in ("before", "after"):
        argv = ["--json", *args] if where == "before" else [*args, "--json"]
        code, out, err = run(*argv)
        assert code == 2, (argv, out, err)
        error = json.loads(out)["error"]
        assert error["type"] == "UsageError" and error["message"] and "Traceback" not in err
        assert "Options:" not in error["message"]
        if param:
            assert error["param"] == param


def test_validation_messages_name_what_the_user_typed() -> None:
    code, out, err = run("submit", " ")
    assert code == 2 and "PROMPT" in err and "Value error" not in err and out == ""
    code, _, err = run("submit", "a cat", "--duration", "0")
    assert code == 2 and "--duration" in err and "Value error" not in err
    code, out, _ = run("--json", "submit", "a cat", "--duration", "0", "--seed", "-1")
    message = json.loads(out)["error"]["message"]
    assert "--duration" in message and "--seed" in message and "Value error" not in message


def test_hints_name_the_cli_command_not_a_python_call() -> None:
    _, doc = run_json("submit", "a cat", "--extra", 'fake={"scenario": "stuck"}')
    task_id = doc["task_id"]
    code, out, err = run("--json", "url", task_id)
    hint = json.loads(out)["error"]["hint"]
    assert code == 1 and f"videoprovider wait fake:{task_id}" in hint
    assert "wait()" not in err and f"videoprovider wait fake:{task_id}" in err
    code, _, err = run("wait", task_id, "--timeout", "0.01")
    assert code == 4 and f"`videoprovider wait fake:{task_id}`" in err
    assert "wait()" not in err
    Path("cat.mp4").write_bytes(b"mine")
    code, _, err = run("generate", "a cat", "--out", "cat.mp4")
    assert code == 1 and "add --overwrite" in err and "overwrite=True" not in err


def test_unsupported_operation_hint_names_the_providers_command(
    nocancel_provider: ModuleType,
) -> None:
    code, _, err = run("--provider", "nocancel", "cancel", "x")
    assert code == 3 and "client.capabilities" not in err and "videoprovider providers" in err


def test_providers_says_a_malformed_config_file_is_broken(tmp_path: Path) -> None:
    (tmp_path / "videoprovider.toml").write_text("provider = [broken\n")
    code, out, _ = run("providers")
    assert code == 0 and "None" not in out and "config file is broken" in out, out
    code, rows = run_json("providers")
    assert all("config file is broken" in r["problem"] for r in rows if not r["error"])


def test_tasks_list_has_a_header_and_rows_told_apart_by_task_id() -> None:
    ids = [run_json("submit", f"cat {i}")[1]["task_id"] for i in range(2)]
    assert ids[0][:36] == ids[1][:36]
    code, out, _ = run("tasks", "list")
    header, *rows = out.splitlines()
    assert code == 0
    assert header.split() == ["ID", "PROVIDER", "PHASE", "STATE", "TASK", "COST", "PATH"]
    assert [row.split()[4] for row in rows] == [f"fake:{i}" for i in ids]
    journal_id = rows[0].split()[0]
    assert run_json("tasks", "show", journal_id)[1]["task_id"] == ids[0]


def test_an_unexpected_error_is_one_line_or_a_json_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from videoprovider.sync import VideoClient

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(VideoClient, "submit", broken)
    code, out, err = run("submit", "a cat")
    assert code == 1 and out == "" and "Traceback" not in err
    assert "RuntimeError: boom" in err and "--debug" in err
    code, out, err = run("submit", "a cat", "--json")
    assert code == 1 and json.loads(out)["error"]["type"] == "RuntimeError"
    result = CliRunner().invoke(main, ["submit", "a cat", "--debug"])
    assert isinstance(result.exception, RuntimeError)


def test_reference_urls_option_is_repeatable() -> None:
    _, doc = run_json(
        "submit",
        "a cat",
        "--reference-urls",
        "https://x/a.png",
        "--reference-urls",
        "https://x/b.mp4",
    )
    assert doc["request"]["reference_urls"] == ["https://x/a.png", "https://x/b.mp4"]


def test_media_paths_typed_on_the_command_line_are_local_files(tmp_path: Path) -> None:
    # The CLI's arguments are the user's own: a path becomes the Path the API takes for a
    # file (a symlink the user names is followed), a URL stays a URL.
    image = tmp_path / "cat.png"
    image.write_bytes(b"png")
    link = tmp_path / "link.png"
    link.symlink_to(image)
    _, doc = run_json(
        "submit", "a cat", "--image-url", str(link), "--reference-urls", "https://x/a.png"
    )
    assert doc["request"]["image_url"] == image.as_uri()
    assert doc["request"]["reference_urls"] == ["https://x/a.png"]


def test_models_lists_every_providers_catalogue() -> None:
    code, out, _ = run("models")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["PROVIDER", "MODEL", "KIND"]
    assert any(line.split()[:2] == ["dashscope", "wan2.6-r2v-flash"] for line in out.splitlines())
    assert any(line.split()[:2] == ["fake", "fake"] for line in out.splitlines())


def test_models_of_one_provider_as_json() -> None:
    _, rows = run_json("models", "--provider", "dashscope")
    assert rows and {r["provider"] for r in rows} == {"dashscope"}
    by_id = {r["id"]: r for r in rows}
    assert by_id["wan2.6-r2v-flash"]["kind"] == "reference-to-video"
    assert by_id["wan2.2-kf2v-*"]["kind"] == "keyframes"  # a series: every wan2.2 kf2v id
    assert 15 in by_id["wan2.6-t2v"]["durations"]


def test_models_of_a_provider_that_is_not_installed_is_a_usage_error() -> None:
    code, _, err = run("models", "--provider", "nope")
    assert code == 2 and "nope" in err


def test_the_ref_tasks_list_shows_is_taken_by_every_task_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = run_json("submit", "a cat")[1]["task_id"]
    code, out, _ = run("tasks", "list")
    ref = out.splitlines()[1].split()[4]
    assert code == 0 and ref == f"fake:{task_id}" == run_json("tasks", "list")[1][0]["ref"]
    # The configured provider does not matter: the ref names the task's own.
    monkeypatch.setenv("VIDEOPROVIDER_PROVIDER", "dashscope")
    code, doc = run_json("wait", ref)
    assert code == 0 and doc["task_id"] == task_id and doc["provider"] == "fake"
    assert run_json("url", ref)[1]["task_id"] == task_id
    assert run_json("download", ref, "--out", "v.mp4")[0] == 0
    assert run_json("status", ref)[1]["state"] == "COMPLETED"
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_a_ref_to_a_provider_not_installed_is_a_usage_error_naming_the_installed() -> None:
    code, _, err = run("status", "nosuch:abc")
    assert code == 2 and "'nosuch'" in err and "not installed" in err and "fake" in err


def test_submit_out_records_where_tasks_resume_saves_the_video(tmp_path: Path) -> None:
    code, task = run_json("submit", "a cat", "--out", "later.mp4")
    assert code == 0 and not (tmp_path / "later.mp4").exists()
    assert run_json("tasks", "list")[1][0]["target_path"] == str(tmp_path / "later.mp4")
    code, results = run_json("tasks", "resume")
    assert code == 0 and results[0]["path"] == str(tmp_path / "later.mp4")
    assert results[0]["ref"] == f"fake:{task['task_id']}"
    assert (tmp_path / "later.mp4").read_bytes()[4:8] == b"ftyp"
    (tmp_path / "taken.mp4").write_bytes(b"mine")
    code, _, err = run("submit", "a cat", "--out", "taken.mp4")
    assert code == 1 and "already exists" in err and len(run_json("tasks", "list")[1]) == 1


def test_models_shows_every_dashscope_family() -> None:
    from videoprovider_dashscope.catalog import FAMILIES

    _, rows = run_json("models", "--provider", "dashscope")
    listed = {r["id"] for r in rows}
    missing = [f.name for f in FAMILIES if not set(f.models) <= listed]
    assert missing == []


def test_tasks_reconcile_lists_unknown_outcomes_and_settles_them() -> None:
    from videoprovider.config import load_config
    from videoprovider.journal import open_journal
    from videoprovider.journal.entry import Phase
    from videoprovider.models import VideoRequest

    journal = open_journal(load_config().core.journal_url)
    try:
        entry_id = journal.intent("fake", VideoRequest(prompt="a lost cat"), None, "me")
        journal.submit_failed(entry_id, Phase.OUTCOME_UNKNOWN, "no reply")
    finally:
        journal.close()
    code, out, _ = run("tasks", "reconcile")
    # The fake lists only the tasks its own process submitted: none in this one.
    assert code == 0 and entry_id[:12] in out and "no unclaimed task in that window" in out
    _, docs = run_json("tasks", "reconcile")
    assert docs[0]["entry"]["id"] == entry_id and docs[0]["candidates"] == []
    code, _, err = run("tasks", "reconcile", "--adopt", "nope", "fake-x")
    assert code == 2 and "nope" in err
    code, out, _ = run("tasks", "reconcile", "--abandon", entry_id[:8])
    assert code == 0 and "abandoned" in out
    assert run("tasks", "reconcile")[1].strip() == "no unknown outcomes to settle"


BOOM = """
from videoprovider.plugin import Operation, ProviderSettings, TaskState, TaskStatus, hookimpl

class Settings(ProviderSettings):
    pass

class Boom:
    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
    unsupported = {Operation.CANCEL: "Boom tasks cannot be stopped."}
    Settings = Settings

    def __init__(self, settings, context):
        self.name = context.name

    @hookimpl
    async def videoprovider_submit(self, request):
        raise Exception("boom")  # say, after the request went out

    @hookimpl
    async def videoprovider_status(self, task_id):
        return TaskStatus(provider=self.name, task_id=task_id, state="RUNNING")
"""


@pytest.fixture
def boom(install_dist: InstallDist) -> None:
    """A third-party provider `boom` whose submit raises and whose status is unmapped."""
    install_dist(
        "boom-video", {"boom_video": BOOM}, {"videoprovider.providers": {"boom": "boom_video:Boom"}}
    )


@pytest.mark.usefixtures("boom")
def test_a_plugin_bug_names_the_plugin_and_its_package_and_keeps_the_outcome_open() -> None:
    code, out, err = run("--provider", "boom", "submit", "a cat")
    assert code == 5 and out == ""
    assert "The boom provider (package boom-video 1.0) failed in submit with Exception: boom" in err
    assert "bug in the boom provider plugin" in err and "may have reached" in err
    (entry,) = run_json("tasks", "list")[1]
    assert entry["phase"] == "outcome_unknown"


@pytest.mark.usefixtures("boom")
def test_a_plugin_that_hands_over_an_unmapped_state_is_told_what_to_do() -> None:
    code, _, err = run("--provider", "boom", "status", "b1")
    assert code == 5 and "(package boom-video 1.0) failed in status" in err
    assert "not a TaskState" in err and "map each of the service's states" in err


def test_estimate_refuses_what_submit_refuses() -> None:
    code, out, err = run(
        "--provider", "dashscope", "estimate", "a cat", "--model", "wan2.1-t2v-turbo",
        "--duration", "7",
    )  # fmt: skip
    assert code == 1 and out == "" and "duration 7 is not offered by wan2.1-t2v-turbo" in err
    code, out, _ = run("estimate", "a cat", "--resolution", "9000P")
    assert code == 1 and out == ""


def test_estimate_of_an_unknown_model_says_so() -> None:
    code, out, _ = run("--provider", "dashscope", "estimate", "a cat", "--model", "wan9-nope")
    assert code == 0 and "wan9-nope is an unknown model" in out


def test_cancel_on_a_provider_that_cannot_cancel_exits_3_before_asking_for_a_key() -> None:
    code, _, err = run("--provider", "dashscope", "cancel", "dashscope:0a1b2c3d")
    assert code == 3 and "does not support cancel" in err and "api_key" not in err


UNAVAILABLE = {"scenario": "unavailable", "unavailable_first": 1000}
DOCUMENTED_EXIT_CODES: dict[int, list[str] | None] = {
    0: ["generate", "a cat", "--out", "cat.mp4"],
    1: ["generate", "a cat", "--out", "x.mp4", "--extra", 'fake={"scenario": "fail"}'],
    2: ["generate", "a cat", "--out", "x.mp4", "--duration", "0"],
    3: ["--provider", "dashscope", "cancel", "dashscope:0a1b2c3d"],
    4: ["wait", "STUCK", "--timeout", "0.01"],
    5: ["status", "UNAVAILABLE"],
    # Ctrl-C needs a real signal in a child process: test_ctrl_c_* above.
    130: None,
}


def test_the_documented_exit_codes_are_the_ones_tested() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    table = doc.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert documented == set(DOCUMENTED_EXIT_CODES)


@pytest.mark.parametrize(
    "code", [c for c, args in DOCUMENTED_EXIT_CODES.items() if args is not None]
)
def test_each_documented_exit_code(code: int) -> None:
    args = list(DOCUMENTED_EXIT_CODES[code] or [])
    for word, scenario in (("STUCK", {"scenario": "stuck"}), ("UNAVAILABLE", UNAVAILABLE)):
        if word in args:
            _, task = run_json("submit", "a cat", "--extra", f"fake={json.dumps(scenario)}")
            args[args.index(word)] = task["task_id"]
    assert run(*args)[0] == code


def test_generate_into_a_folder_saves_a_short_readable_name(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    code, doc = run_json("generate", "a cat", "--out", "videos")
    assert code == 0
    saved = Path(doc["path"])
    assert saved.parent == tmp_path / "videos" and re.fullmatch(
        r"fake-[0-9a-f]{12}\.mp4", saved.name
    )
    assert len(doc["task"]["task_id"]) > 64  # the fake's ids would make an unwieldy name
    code, _, err = run("download", doc["task"]["task_id"], "--out", "videos")
    assert code == 1 and "already exists" in err  # the same name again: never replaced
