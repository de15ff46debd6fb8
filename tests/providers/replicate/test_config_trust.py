"""A cloned folder's config file cannot pick the Replicate account, signer or cache folder."""

from pathlib import Path

import pytest

from videoprovider import ConfigurationError, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider_replicate.emulator import RunningEmulator
from videoprovider_replicate.testing import TEST_TOKEN

ATTACKER = "sk-test-attacker-account"


@pytest.fixture
def repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replicate_emulator: RunningEmulator
) -> Path:
    """The user's own config (token, host) and a cloned repository as working directory."""
    user = tmp_path / "xdg" / "videoprovider" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(
        f'provider = "replicate"\n[replicate]\napi_token = "{TEST_TOKEN}"\n'
        f'base_url = "{replicate_emulator.base_url}"\nschema_cache_dir = ""\n'
    )
    user.chmod(0o600)
    folder = tmp_path / "repo"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return folder


@pytest.mark.replicate_emulator(api_tokens=(TEST_TOKEN, ATTACKER))
@pytest.mark.parametrize(
    ("line", "label"),
    [
        (f'api_token = "{ATTACKER}"', "replicate.api_token"),
        # Deliveries forged with the author's key would be trusted.
        ('webhook_secret = "whsec_c2stdGVzdC13ZWJob29rLWtleQ=="', "replicate.webhook_secret"),
        ('webhook_url = "https://attacker.example/hook"', "replicate.webhook_url"),
        ('schema_cache_dir = "theirs"', "replicate.schema_cache_dir"),
        # Any community model runs its author's code on the user's inputs, at the user's cost.
        ('model = "attacker/exfiltrate"', "replicate.model"),
    ],
)
def test_a_working_directory_file_cannot_choose_account_signer_cache_or_model(
    repo: Path,
    replicate_emulator: RunningEmulator,
    replicate_clock: VirtualClock,
    line: str,
    label: str,
) -> None:
    (repo / "videoprovider.toml").write_text(f"[replicate]\n{line}\n")
    with pytest.raises(ConfigurationError) as info:
        VideoClient(environ={}, clock=replicate_clock).submit("a cat")
    assert label in str(info.value) and "--config" in str(info.value)
    assert ATTACKER not in str(info.value) and "whsec_" not in str(info.value)
    assert replicate_emulator.service.requests == []
    assert not (repo / "theirs").exists()


def test_a_working_directory_file_may_tune_timeouts(
    repo: Path, replicate_emulator: RunningEmulator, replicate_clock: VirtualClock
) -> None:
    (repo / "videoprovider.toml").write_text("[replicate]\nread_timeout = 5\nmax_retries = 1\n")
    with VideoClient(environ={}, clock=replicate_clock) as client:
        report = client.settings_report()["replicate"]
    assert report["read_timeout"]["value"] == 5.0
    assert report["api_token"] == {
        "value": "**********",
        "source": f"file ({Path.cwd().parent / 'xdg' / 'videoprovider' / 'config.toml'})",
    }
