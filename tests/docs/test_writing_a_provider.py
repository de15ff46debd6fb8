"""The provider tutorial's code, installed as a package and run as its readers would."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

# Imported here, outside the nested runs, so they share these modules (and their classes)
# instead of re-importing them: pytester drops modules a run imported.
import videoprovider.testing.conformance  # noqa: F401
from videoprovider import (
    Operation,
    RequestRejected,
    TaskState,
    UnsupportedOperation,
    VideoClient,
    VirtualClock,
)
from videoprovider.cli import main

InstallDist = Any  # the install_dist fixture from tests/conftest.py

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-provider.md"
KEY = {"ACME_API_KEY": "sk-test-1"}


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.+?)\n```", DOC.read_text(), flags=re.S)


def tutorial_files(prefix: str) -> dict[str, str]:
    """The doc's python blocks whose first line is `# <prefix>...`, by that file name."""
    found = {}
    for block in blocks("python"):
        first = block.splitlines()[0]
        if first.startswith(f"# {prefix}"):
            found[first.removeprefix("# ")] = block
    return found


@pytest.fixture
def acme(install_dist: InstallDist) -> Path:
    """The tutorial's package, installed; returns the site folder it is installed in."""
    source = tutorial_files("acme_video.py")["acme_video.py"]
    meta = tomllib.loads(blocks("toml")[0])
    entry_points = meta["project"]["entry-points"]
    site: Path = install_dist(meta["project"]["name"], {"acme_video": source}, entry_points)
    return site


def test_tutorial_provider_works_through_the_client(acme: Path, tmp_path: Path) -> None:
    clock = VirtualClock()
    with VideoClient("acme", config=False, environ=KEY, clock=clock) as client:
        assert client.capabilities == {Operation.SUBMIT, Operation.STATUS, Operation.URL}
        task = client.submit("a red ball")
        status = client.wait(task)
        assert status.state is TaskState.COMPLETED
        assert client.url(task).endswith(f"{task.task_id}.mp4")
        assert client.download(task, tmp_path / "ball.mp4").read_bytes()[4:8] == b"ftyp"
        with pytest.raises(RequestRejected, match="duration"):
            client.submit("a red ball", duration=7)
        with pytest.raises(UnsupportedOperation, match="cannot be stopped"):
            client.cancel(task)
    assert clock.monotonic() >= 30


def test_tutorial_task_ids_are_unique_and_found_by_a_new_client(acme: Path) -> None:
    clock = VirtualClock()
    tasks = []
    for _ in range(2):  # each client is a fresh provider, as in a new process
        with VideoClient("acme", config=False, environ=KEY, clock=clock) as client:
            tasks.append(client.submit("a red ball"))
    assert tasks[0].task_id != tasks[1].task_id
    clock.advance(30)
    with VideoClient("acme", config=False, environ=KEY, clock=clock) as client:
        assert client.status(tasks[0].task_id).state is TaskState.COMPLETED
        assert client.status("acme-1").state is TaskState.UNKNOWN


def test_tutorial_commands_work_offline(
    acme: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = VirtualClock()
    monkeypatch.setattr("videoprovider.client.SystemClock", lambda: clock)
    monkeypatch.chdir(tmp_path)
    env = {
        **KEY,
        "VIDEOPROVIDER_PROVIDER": "acme",
        "VIDEOPROVIDER_CONFIG": "",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    runner = CliRunner()
    generated = runner.invoke(main, ["generate", "a red ball", "--out", "ball.mp4"], env=env)
    assert generated.exit_code == 0, generated.output
    assert (tmp_path / "ball.mp4").read_bytes()[4:8] == b"ftyp"
    assert "Retry" not in generated.output
    for _ in range(2):
        assert runner.invoke(main, ["submit", "a blue ball"], env=env).exit_code == 0
    resumed = runner.invoke(main, ["tasks", "resume"], env=env)
    assert resumed.exit_code == 0, resumed.output
    lines = resumed.output.splitlines()
    assert len(lines) == 2 and all(line.endswith(" COMPLETED") for line in lines), resumed.output


def test_tutorial_tests_pass_and_its_provider_passes_the_kit(
    acme: Path, pytester: pytest.Pytester
) -> None:
    files = {n: c for n, c in tutorial_files("tests/").items() if "bolt" not in n}
    assert set(files) == {"tests/test_acme.py", "tests/test_conformance.py"}
    for name, code in files.items():
        pytester.makepyfile(**{Path(name).stem: code})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-rs")
    result.assert_outcomes(passed=21, skipped=20)
    # Skipped by declaration only: the fault checks (uses_http = False), the settings
    # check that needs a free string setting Acme does not have, and the checks of the
    # optional task listing and status stream, whose hooks Acme does not implement.
    reasons = {line.split(": ")[-1] for line in result.outlines if line.startswith("SKIPPED")}
    assert reasons == {
        "acme declares uses_http = False",
        "acme has no string setting that conformance_settings leaves free; set "
        "conformance_string_setting to check precedence with one",
        "acme does not implement videoprovider_list_tasks (optional)",
        "acme does not declare status_stream (optional)",
    }


def test_tutorial_config_selects_the_provider(acme: Path, tmp_path: Path) -> None:
    config = tmp_path / "videoprovider.toml"
    config.write_text(blocks("toml")[1])
    with VideoClient(config=config, environ=KEY) as client:
        assert client.provider_name == "acme"
        assert client.settings_report()["acme"]["render_seconds"]["value"] == 20
        assert client.settings_report()["acme"]["api_key"]["value"] == "**********"


def test_the_project_tests_of_plugins_pass_with_the_tutorial_plugin_installed(
    acme: Path,
) -> None:
    # Run in a new interpreter that has the tutorial's package installed (on PYTHONPATH) as
    # a reader who followed it would: the project's own third-party plugin tests, and the
    # tutorial's, must not collide with it.
    root = DOC.parents[1]
    tests = [root / "tests" / "core" / "test_plugins.py", Path(__file__)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(acme), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + [str(t) for t in tests]
        + ["-k", "not tutorial_plugin_installed"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


@pytest.fixture
def bolt(install_dist: InstallDist) -> Path:
    """Section 6's HTTP provider and its emulator, installed as one package."""
    files = tutorial_files("bolt_")
    assert set(files) == {"bolt_video.py", "bolt_emulator.py"}
    sources = {Path(name).stem: code for name, code in files.items()}
    entry_points = {"videoprovider.providers": {"bolt": "bolt_video:BoltProvider"}}
    site: Path = install_dist("videoprovider-bolt", sources, entry_points)
    return site


def test_the_http_provider_passes_the_kit_against_its_emulator(
    bolt: Path, pytester: pytest.Pytester
) -> None:
    ((name, code),) = tutorial_files("tests/test_bolt").items()
    pytester.makepyfile(**{Path(name).stem: code})
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-rs")
    # Nothing skipped but by declaration: Bolt has no free string setting, no listing, no
    # client-chosen task ids and no status stream.
    reasons = {line.split(": ")[-1] for line in result.outlines if line.startswith("SKIPPED")}
    assert reasons == {
        "bolt has no string setting that conformance_settings leaves free; set "
        "conformance_string_setting to check precedence with one",
        "bolt does not implement videoprovider_list_tasks (optional)",
        "bolt does not declare recoverable_submits",
        "bolt does not declare status_stream (optional)",
    }, "\n".join(result.outlines[-40:])
    result.assert_outcomes(passed=24, skipped=16)


def test_the_http_provider_generates_and_cancels_through_the_client(
    bolt: Path, tmp_path: Path
) -> None:
    from functools import partial

    import bolt_emulator  # type: ignore[import-not-found]

    from videoprovider import TaskCanceled
    from videoprovider.testing.emulator import base_url, in_thread, serve

    clock = VirtualClock()
    service = bolt_emulator.BoltService(clock)
    with in_thread(partial(serve, service, "127.0.0.1", 0)) as server:
        service.base_url = base_url(server, "127.0.0.1", None)
        settings = {"api_key": service.key, "base_url": f"{service.base_url}/v1"}
        with VideoClient("bolt", config=False, environ={}, clock=clock, **settings) as client:
            video = client.generate("a red ball", tmp_path / "ball.mp4", duration=8)
            assert video.status.state is TaskState.COMPLETED and video.bytes > 0
            task = client.submit("a blue ball")
            assert client.cancel(task).state is TaskState.CANCELED
            with pytest.raises(TaskCanceled):
                client.wait(task)
            with pytest.raises(RequestRejected) as info:
                client.estimate("a red ball", duration=7)
            assert info.value.field == "duration"
