"""The pytest plugin, used the way a host application's test suite uses it."""

from pathlib import Path

import pytest

HOST_TESTS = """
import pytest
from videoprovider import TaskFailed, TaskState, WaitTimeout


def test_generate_offline(video_client, video_clock, tmp_path):
    video = video_client.generate("a cat", tmp_path / "cat.mp4")
    assert video.status.state is TaskState.COMPLETED
    assert (tmp_path / "cat.mp4").stat().st_size > 1000


@pytest.mark.videoprovider(scenario="fail", fail_code="Nope")
def test_marker_selects_a_scenario(video_client):
    with pytest.raises(TaskFailed) as info:
        video_client.wait(video_client.submit("a cat"))
    assert info.value.code == "Nope"


@pytest.mark.videoprovider(scenario="stuck", wait_timeout=3600)
def test_an_hour_of_waiting_takes_no_time(video_client, video_clock):
    with pytest.raises(WaitTimeout):
        video_client.wait(video_client.submit("a cat"))
    assert video_clock.monotonic() == pytest.approx(3600)


@pytest.mark.anyio
async def test_async_fixture(async_video_client):
    task = await async_video_client.submit("a cat")
    assert (await async_video_client.wait(task)).state is TaskState.COMPLETED


@pytest.mark.videoprovider(scenario="stuck")
def test_cancel_stays_out_of_the_users_data_dir(video_client):
    assert video_client.cancel(video_client.submit("a cat")).state is TaskState.CANCELED


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def test_host_app_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The fixtures must ignore the developer's environment and config file, and leave the
    # developer's data dir alone.
    monkeypatch.setenv("VIDEOPROVIDER_PROVIDER", "nope")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    pytester.makepyfile(HOST_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    assert not (tmp_path / "data").exists()
