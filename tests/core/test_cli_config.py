"""The CLI's `--config FILE` and how config-file warnings reach the terminal."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from videoprovider.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_", "REPLICATE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("VIDEOPROVIDER_POLL_INTERVAL", "0.001")
    monkeypatch.setenv("VIDEOPROVIDER_FAKE_SECONDS", "0.01")
    monkeypatch.chdir(tmp_path)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def show(*args: str) -> dict[str, Any]:
    code, out, err = run(*args)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "where",
    [
        ["--config", "{f}", "--json", "config", "show"],
        ["--json", "config", "show", "--config", "{f}"],
        ["config", "--config", "{f}", "show", "--json"],
    ],
)
def test_config_option_works_anywhere_and_layers_over_the_user_file(
    tmp_path: Path, where: list[str]
) -> None:
    user = write(tmp_path / "xdg" / "videoprovider" / "config.toml", 'max_spend = "5 USD"\n')
    named = write(tmp_path / "project.toml", 'journal_url = "j.sqlite3"\nwait_timeout = 7\n')
    doc = show(*(arg.format(f=named) for arg in where))
    core = doc["videoprovider"]
    assert core["wait_timeout"] == {"value": 7.0, "source": f"file ({named})"}
    assert core["journal_url"]["value"] == "j.sqlite3"  # named, so trusted
    assert core["max_spend"] == {"value": "5 USD", "source": f"file ({user})"}
    assert doc["files"] == [str(named), str(user)]
    assert "VIDEOPROVIDER_CONFIG" not in os.environ  # for this one command only


def test_the_config_option_reaches_the_client(tmp_path: Path) -> None:
    named = write(tmp_path / "failing.toml", '[fake]\nscenario = "fail"\n')
    assert run("generate", "a cat", "--out", "cat.mp4")[0] == 0
    code, _, err = run("generate", "a cat", "--out", "dog.mp4", "--config", str(named))
    assert code == 1 and "failed" in err
    assert not (tmp_path / "dog.mp4").exists()


def test_the_hint_to_name_a_working_directory_file_is_true(tmp_path: Path) -> None:
    write(tmp_path / "videoprovider.toml", 'journal_url = "elsewhere.sqlite3"\n')
    code, _, err = run("config", "show")
    assert code == 2 and "journal_url" in err
    hint = f"--config {tmp_path / 'videoprovider.toml'}"
    assert hint in err
    doc = show(*hint.split(), "config", "show", "--json")
    assert doc["videoprovider"]["journal_url"]["value"] == "elsewhere.sqlite3"


def test_a_missing_config_file_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    code, _, err = run("--config", str(tmp_path / "nope.toml"), "config", "show")
    assert code == 2 and "--config" in err and "nope.toml" in err


def test_config_path_marks_every_file_read(tmp_path: Path) -> None:
    user = write(tmp_path / "xdg" / "videoprovider" / "config.toml", "wait_timeout = 5\n")
    named = write(tmp_path / "p.toml", "wait_timeout = 6\n")
    doc = show("--json", "--config", str(named), "config", "path")
    assert doc["paths"] == doc["read"] == [str(named), str(user)]


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_a_readable_file_with_secrets_warns_in_one_clean_line_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "xdg" / "videoprovider" / "config.toml",
        '[replicate]\napi_token = "sk-test-0123456789abc"\n'
        'webhook_secret = "whsec_c2stdGVzdC13ZWJob29rLWtleQ=="\n'
        '[dashscope]\nevents_token = "sk-test-0123456789abcdef"\n',
        mode=0o644,
    )
    code, _, err = run("generate", "a cat", "--out", "cat.mp4")
    assert code == 0, err
    warned = [line for line in err.splitlines() if "can be read by other users" in line]
    assert warned == [
        f"warning: Config file {path} holds a secret (replicate.api_token, "
        "replicate.webhook_secret, dashscope.events_token) and can be read by other users "
        f"(mode 644); run: chmod 600 {path}"
    ]
    assert "InsecurePermissionsWarning" not in err and "sk-test" not in err


def test_the_docs_describe_the_config_option() -> None:
    cli = (DOCS / "cli.md").read_text()
    assert "[--config FILE]" in cli.splitlines()[3] and "`--config FILE`" in cli
    assert "`--config FILE`" in (DOCS / "configuration.md").read_text()


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_the_warning_is_one_line_once_in_a_real_process_too(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(
        tmp_path / "xdg" / "videoprovider" / "config.toml",
        '[replicate]\napi_token = "sk-test-0123456789abc"\n',
        mode=0o644,
    )
    named = write(tmp_path / "p.toml", "wait_timeout = 5\n")
    command = ["generate", "a cat", "--out", "cat.mp4", "--config", str(named)]
    result = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", *command],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if str(path) in line]
    assert lines == [
        f"warning: Config file {path} holds a secret (replicate.api_token) and can be read by "
        f"other users (mode 644); run: chmod 600 {path}"
    ]
    assert "Warning" not in result.stderr and "sk-test" not in result.stderr
