"""The provider tutorial's code, installed as a package and run as its readers would."""

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from videoprovider import (
    Operation,
    RequestRejected,
    TaskState,
    UnsupportedOperation,
    VideoClient,
    VirtualClock,
)

InstallDist = Any  # the install_dist fixture from tests/conftest.py

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-provider.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.+?)\n```", DOC.read_text(), flags=re.S)


@pytest.fixture
def acme(install_dist: InstallDist) -> None:
    source = next(b for b in blocks("python") if b.startswith("# acme_video.py"))
    meta = tomllib.loads(blocks("toml")[0])
    entry_points = meta["project"]["entry-points"]
    install_dist(meta["project"]["name"], {"acme_video": source}, entry_points)


def test_tutorial_provider_works_through_the_client(acme: None) -> None:
    clock = VirtualClock()
    with VideoClient(
        "acme", config=False, environ={"ACME_API_KEY": "sk-test-1"}, clock=clock
    ) as client:
        assert client.capabilities == {Operation.SUBMIT, Operation.STATUS, Operation.URL}
        task = client.submit("a red ball")
        status = client.wait(task)
        assert status.state is TaskState.COMPLETED
        assert client.url(task).endswith(f"{task.task_id}.mp4")
        with pytest.raises(RequestRejected, match="duration"):
            client.submit("a red ball", duration=7)
        with pytest.raises(UnsupportedOperation, match="cannot be stopped"):
            client.cancel(task)
    assert clock.monotonic() >= 30


def test_tutorial_test_passes(acme: None) -> None:
    test_code = next(b for b in blocks("python") if "def test_acme" in b)
    namespace: dict[str, object] = {}
    exec(compile(test_code, str(DOC), "exec"), namespace)
    namespace["test_acme_completes_after_render_time"]()  # type: ignore[operator]


def test_tutorial_config_selects_the_provider(acme: None, tmp_path: Path) -> None:
    config = tmp_path / "videoprovider.toml"
    config.write_text(blocks("toml")[1])
    with VideoClient(config=config, environ={"ACME_API_KEY": "sk-test-1"}) as client:
        assert client.provider_name == "acme"
        assert client.settings_report()["acme"]["render_seconds"]["value"] == 20
        assert client.settings_report()["acme"]["api_key"]["value"] == "**********"
