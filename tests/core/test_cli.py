import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from videoprovider.cli import main

FAST = {
    "VIDEOPROVIDER_POLL_INTERVAL": "0.001",
    "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.002",
    "VIDEOPROVIDER_FAKE_SECONDS": "0.01",
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_generate_saves_the_video_and_prints_its_path(tmp_path: Path) -> None:
    code, out, err = run("generate", "A cat running on the grass", "--out", "cat.mp4")
    assert code == 0, err
    assert out.strip() == str(tmp_path / "cat.mp4")
    assert (tmp_path / "cat.mp4").read_bytes()[4:8] == b"ftyp"
    assert "submitted task" in err and "completed" in err


def test_generate_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    (tmp_path / "cat.mp4").write_bytes(b"mine")
    code, out, err = run("generate", "a cat", "--out", "cat.mp4")
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert (tmp_path / "cat.mp4").read_bytes() == b"mine" and out == ""
    assert run("generate", "a cat", "--out", "cat.mp4", "--overwrite")[0] == 0


def test_request_options_are_validated_with_the_option_name() -> None:
    code, _, err = run("generate", "a cat", "--out", "x.mp4", "--duration", "0")
    assert code == 2 and "--duration" in err and "Traceback" not in err


def test_failed_task_exits_1(tmp_path: Path) -> None:
    code, _, err = run(
        "generate", "a cat", "--out", "x.mp4", "--extra", 'fake={"scenario": "fail"}'
    )
    assert code == 1 and "failed" in err and not (tmp_path / "x.mp4").exists()


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
    assert code == 4 and "fake-" in err and "wait()" in err


def test_unknown_provider_exits_2_listing_installed() -> None:
    code, _, err = run("--provider", "nope", "generate", "a cat", "--out", "x.mp4")
    assert code == 2 and "fake" in err and "dashscope" in err


def test_providers_lists_capabilities_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test-verysecretvalue")
    code, out, _ = run("providers")
    assert code == 0
    lines = {
        line.split()[1] if line.startswith("*") else line.split()[0]: line
        for line in out.splitlines()
    }
    assert lines["fake"].startswith("*")
    assert "submit, status, url, cancel" in lines["fake"]
    assert "cancel" not in lines["dashscope"] and "configured" in lines["dashscope"]
    assert "verysecretvalue" not in out


def test_help_lists_exit_codes() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "Exit codes" in out and "not supported by the provider" in out


def test_generate_as_a_real_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()}
    result = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "generate", "a cat", "--out", "cat.mp4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).read_bytes()[4:8] == b"ftyp"
