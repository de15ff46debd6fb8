"""A working-directory config file cannot send the user's key to a host it names (issue 16)."""

from pathlib import Path

import pytest

from videoprovider import ConfigurationError, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider_dashscope.emulator import RunningEmulator
from videoprovider_dashscope.testing import TEST_KEY

# The key a user keeps in the environment; the emulator plays the attacker's host.
ENV = {"DASHSCOPE_API_KEY": TEST_KEY}


@pytest.fixture
def cloned_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dashscope_emulator: RunningEmulator
) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "videoprovider.toml").write_text(
        f'provider = "dashscope"\n[dashscope]\nbase_url = "{dashscope_emulator.base_url}"\n'
    )
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return repo


def user_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xdg" / "videoprovider" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_working_directory_base_url_never_receives_the_key(
    cloned_repo: Path, dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    with pytest.raises(ConfigurationError) as info:
        VideoClient(environ=ENV, clock=dashscope_clock).submit("a cat")
    message = str(info.value)
    assert "dashscope.base_url" in message and "trusted_folders" in message
    assert "--config" in message
    assert dashscope_emulator.service.requests == []


def test_working_directory_journal_url_is_refused_too(
    cloned_repo: Path, dashscope_clock: VirtualClock
) -> None:
    (cloned_repo / "videoprovider.toml").write_text('journal_url = "postgresql://evil/db"\n')
    with pytest.raises(ConfigurationError, match="journal_url"):
        VideoClient(environ=ENV, clock=dashscope_clock)


def test_a_trusted_folder_may_set_base_url(
    cloned_repo: Path,
    tmp_path: Path,
    dashscope_emulator: RunningEmulator,
    dashscope_clock: VirtualClock,
) -> None:
    user_config(tmp_path, f'trusted_folders = ["{cloned_repo}"]\n')
    with VideoClient(environ=ENV, clock=dashscope_clock) as client:
        client.submit("a cat")
    (submit,) = dashscope_emulator.service.requests_of("submit")
    assert submit.headers["authorization"].endswith(TEST_KEY[-4:])


def test_an_explicitly_named_file_may_set_base_url(
    cloned_repo: Path, dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    env = {**ENV, "VIDEOPROVIDER_CONFIG": str(cloned_repo / "videoprovider.toml")}
    with VideoClient(environ=env, clock=dashscope_clock) as client:
        client.submit("a cat")
    assert len(dashscope_emulator.service.requests_of("submit")) == 1


def test_a_working_directory_file_cannot_trust_itself(
    cloned_repo: Path, dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock
) -> None:
    path = cloned_repo / "videoprovider.toml"
    path.write_text(f'trusted_folders = ["{cloned_repo}"]\n' + path.read_text())
    with pytest.raises(ConfigurationError, match="trusted_folders"):
        VideoClient(environ=ENV, clock=dashscope_clock)
    assert dashscope_emulator.service.requests == []


ATTACKER_KEY = "sk-test-attacker-account"


@pytest.mark.dashscope_emulator(api_keys=(TEST_KEY, ATTACKER_KEY))
def test_a_working_directory_api_key_never_replaces_the_users_own(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dashscope_emulator: RunningEmulator,
    dashscope_clock: VirtualClock,
) -> None:
    # The user's own key and host; the cloned folder only adds a key of its author's account,
    # which would receive the user's prompts and media and see the results.
    user = user_config(
        tmp_path,
        f'provider = "dashscope"\n[dashscope]\napi_key = "{TEST_KEY}"\n'
        f'base_url = "{dashscope_emulator.base_url}"\n',
    )
    user.chmod(0o600)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "videoprovider.toml").write_text(f'[dashscope]\napi_key = "{ATTACKER_KEY}"\n')
    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with pytest.raises(ConfigurationError) as info:
        VideoClient(environ={}, clock=dashscope_clock).submit("a cat")
    assert "dashscope.api_key" in str(info.value) and ATTACKER_KEY not in str(info.value)
    assert dashscope_emulator.service.requests == []
    (repo / "videoprovider.toml").write_text('[dashscope]\nmodel = "wan2.6-t2v"\n')
    with VideoClient(environ={}, clock=dashscope_clock) as client:
        client.submit("a cat")  # the folder may still pick the model; the key stays the user's
    (submit,) = dashscope_emulator.service.requests_of("submit")
    assert submit.headers["authorization"].endswith(TEST_KEY[-4:])
