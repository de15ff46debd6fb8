"""Every test runs away from the developer's settings, keys, config files and data."""

import os
from pathlib import Path
from typing import Any

import pytest
from platformdirs import user_config_dir, user_data_dir


def test_no_setting_or_key_of_the_developer_reaches_a_test() -> None:
    leaked = [
        name
        for name in os.environ
        if name.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_", "REPLICATE_"))
    ]
    assert leaked == []


def test_config_and_data_folders_live_in_a_throwaway_home(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    assert home.parent == tmp_path.parent  # in pytest's base temp folder
    assert Path("~").expanduser() == home
    for folder in (user_config_dir("videoprovider"), user_data_dir("videoprovider")):
        assert Path(folder).is_relative_to(home), folder


def test_a_missing_tool_skips_a_test_but_fails_it_in_ci(
    unavailable: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ffprobe is not installed"):
        unavailable("ffprobe is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        unavailable("ffprobe is not installed")
