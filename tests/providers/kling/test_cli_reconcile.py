"""`videoprovider tasks reconcile` recovers a Kling submit by its external_task_id."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from videoprovider import VideoClient
from videoprovider.cli import main
from videoprovider.errors import SubmitOutcomeUnknown
from videoprovider_kling.emulator import (
    TEST_ACCESS_KEY,
    TEST_SECRET_KEY,
    Fault,
    RunningEmulator,
    run_in_thread,
)


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    for name in list(os.environ):
        if name.startswith(("VIDEOPROVIDER_", "KLING_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)
    # The CLI signs with the real clock, so this emulator checks tokens against it too.
    with run_in_thread() as running:
        monkeypatch.setenv("KLING_BASE_URL", running.base_url)
        monkeypatch.setenv("KLING_ACCESS_KEY", TEST_ACCESS_KEY)
        monkeypatch.setenv("KLING_SECRET_KEY", TEST_SECRET_KEY)
        yield running


def test_reconcile_recovers_the_task_by_its_own_id(emulator: RunningEmulator) -> None:
    emulator.service.inject(Fault("drop_after", match="create"), Fault(5000, match="query"))
    with (
        VideoClient("kling", journal=True, max_retries=0) as client,
        pytest.raises(SubmitOutcomeUnknown),
    ):
        client.submit("a lost fox")
    [service_id] = emulator.service.tasks
    result = CliRunner().invoke(main, ["tasks", "reconcile"])
    assert result.exit_code == 0, result.output
    assert f"recovered by its own task id: kling:t2v-{service_id}" in result.output
    assert len(emulator.service.requests_of("create")) == 1
    again = CliRunner().invoke(main, ["tasks", "reconcile"])
    assert again.output.strip() == "no unknown outcomes to settle"
