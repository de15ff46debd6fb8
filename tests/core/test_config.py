import os
import warnings
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr

from videoprovider.config import (
    CoreSettings,
    InsecurePermissionsWarning,
    default_config_paths,
    load_config,
    redacted,
)
from videoprovider.errors import ConfigurationError
from videoprovider.provider import ProviderSettings


@pytest.fixture(autouse=True)
def own_user_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user config file is always read: keep this machine's own out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


class KeySettings(ProviderSettings):
    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {"api_key": ("ACME_KEY", "OLD_ACME_KEY")}
    api_key: SecretStr
    model: str = "m1"
    timeout: float = 10.0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "videoprovider.toml"
    path.write_text(text)
    path.chmod(0o600)  # as a file holding a key should be
    return path


def test_defaults_without_env_or_file() -> None:
    config = load_config(config=False, environ={})
    assert config.core == CoreSettings()
    assert config.core.provider == "fake"
    assert set(config.core_sources.values()) == {"default"}
    assert config.file is None


def test_precedence_argument_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "from-file"\nwait_timeout = 10\npoll_interval = 3\n')
    env = {"VIDEOPROVIDER_PROVIDER": "from-env", "VIDEOPROVIDER_WAIT_TIMEOUT": "20"}
    config = load_config(config=path, environ=env, args={"provider": "from-arg"})
    assert config.core.provider == "from-arg"
    assert config.core.wait_timeout == 20.0
    assert config.core.poll_interval == 3.0
    assert config.core.poll_max_interval == CoreSettings().poll_max_interval
    assert config.core_sources["provider"] == "argument"
    assert config.core_sources["wait_timeout"] == "environment (VIDEOPROVIDER_WAIT_TIMEOUT)"
    assert config.core_sources["poll_interval"] == f"file ({path})"
    assert config.core_sources["poll_max_interval"] == "default"


def test_empty_env_var_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "from-file"\n')
    assert load_config(config=path, environ={"VIDEOPROVIDER_PROVIDER": ""}).core.provider == (
        "from-file"
    )


def test_config_file_found_through_env_var(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "x"\n')
    config = load_config(environ={"VIDEOPROVIDER_CONFIG": str(path)})
    assert config.file == path and config.core.provider == "x"


def test_missing_config_file_named_by_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="VIDEOPROVIDER_CONFIG"):
        load_config(environ={"VIDEOPROVIDER_CONFIG": str(tmp_path / "nope.toml")})


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_config(config=tmp_path / "nope.toml", environ={})


def test_file_in_working_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, 'provider = "cwd"\n')
    monkeypatch.chdir(tmp_path)
    assert default_config_paths({})[0] == tmp_path / "videoprovider.toml"
    assert load_config(environ={}).core.provider == "cwd"


def test_user_config_dir_is_searched_after_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user_file = default_config_paths({})[1]
    user_file.parent.mkdir(parents=True)
    user_file.write_text('provider = "user"\n')
    assert load_config(environ={}).core.provider == "user"


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "provider = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML") as info:
        load_config(config=path, environ={})
    assert str(path) in str(info.value)


def test_unknown_top_level_key_lists_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "wait_timout = 3\n")
    with pytest.raises(ConfigurationError, match="'wait_timout'") as info:
        load_config(config=path, environ={})
    assert "wait_timeout" in str(info.value)


def test_invalid_value_names_field_and_source() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(config=False, environ={"VIDEOPROVIDER_WAIT_TIMEOUT": "soon"})
    assert "wait_timeout" in str(info.value)
    assert "VIDEOPROVIDER_WAIT_TIMEOUT" in str(info.value)


def test_provider_section_precedence_and_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, '[acme]\napi_key = "sk-test-file"\nmodel = "m-file"\n')
    config = load_config(
        config=path, environ={"OLD_ACME_KEY": "sk-test-old", "VIDEOPROVIDER_ACME_TIMEOUT": "3"}
    )
    settings, sources = config.resolve_provider("acme", KeySettings, {"model": "m-arg"})
    assert settings.api_key.get_secret_value() == "sk-test-old"
    assert sources["api_key"] == "environment (OLD_ACME_KEY)"
    assert settings.model == "m-arg" and sources["model"] == "argument"
    assert settings.timeout == 3.0


def test_prefixed_env_var_wins_over_aliases_in_order() -> None:
    config = load_config(
        config=False, environ={"ACME_KEY": "sk-test-a", "OLD_ACME_KEY": "sk-test-b"}
    )
    settings, _ = config.resolve_provider("acme", KeySettings, {})
    assert settings.api_key.get_secret_value() == "sk-test-a"
    config = load_config(
        config=False, environ={"ACME_KEY": "sk-test-a", "VIDEOPROVIDER_ACME_API_KEY": "sk-test-p"}
    )
    settings, _ = config.resolve_provider("acme", KeySettings, {})
    assert settings.api_key.get_secret_value() == "sk-test-p"


def test_missing_required_setting_says_where_to_set_it() -> None:
    config = load_config(config=False, environ={})
    with pytest.raises(ConfigurationError) as info:
        config.resolve_provider("acme", KeySettings, {})
    message = str(info.value)
    assert "acme.api_key is required" in message
    for where in ("VIDEOPROVIDER_ACME_API_KEY", "ACME_KEY", "OLD_ACME_KEY", "[acme]"):
        assert where in message


def test_unknown_key_in_provider_section(tmp_path: Path) -> None:
    path = write(tmp_path, '[acme]\napi_key = "sk-test-1"\nmodle = "x"\n')
    config = load_config(config=path, environ={})
    with pytest.raises(ConfigurationError, match="'modle'"):
        config.resolve_provider("acme", KeySettings, {})


def test_sections_of_other_providers_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "[not-installed]\nanything = 1\n")
    assert load_config(config=path, environ={}).core.provider == "fake"


def test_secrets_never_print() -> None:
    config = load_config(config=False, environ={"ACME_KEY": "sk-test-supersecret"})
    settings, _ = config.resolve_provider("acme", KeySettings, {})
    assert "supersecret" not in repr(settings) + str(settings) + str(redacted(settings))
    assert redacted(settings)["api_key"] == "**********"


def test_invalid_secret_value_is_not_echoed() -> None:
    class Strict(ProviderSettings):
        api_key: SecretStr
        retries: int = 1

    config = load_config(config=False, environ={"VIDEOPROVIDER_ACME_RETRIES": "sk-test-oops"})
    with pytest.raises(ConfigurationError) as info:
        config.resolve_provider("acme", Strict, {"api_key": "sk-test-x"})
    assert "sk-test-oops" not in str(info.value)


def test_configuration_doc_lists_every_core_setting() -> None:
    from videoprovider.config import settings_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert settings_table(CoreSettings, "VIDEOPROVIDER_") in doc


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_group_writable_config_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'provider = "fake"\n')
    path.chmod(0o664)
    with pytest.raises(ConfigurationError, match="written by other users") as info:
        load_config(config=path, environ={})
    assert f"chmod go-w {path}" in str(info.value)


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_readable_config_file_with_a_key_warns(tmp_path: Path) -> None:
    path = write(tmp_path, '[acme]\napi_key = "sk-test-file"\n')
    path.chmod(0o644)
    with pytest.warns(InsecurePermissionsWarning, match="chmod 600") as record:
        load_config(config=path, environ={})
    assert "sk-test-file" not in str(record[0].message)
    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(config=path, environ={})


def test_trusted_folders_must_be_a_list_of_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user_file = default_config_paths({})[1]
    user_file.parent.mkdir(parents=True)
    user_file.write_text('trusted_folders = "~/src"\n')
    with pytest.raises(ConfigurationError, match="list of folder paths"):
        load_config(environ={})
    user_file.write_text('trusted_folders = ["~/src"]\nprovider = "user"\n')
    assert load_config(environ={}).core.provider == "user"


def test_working_directory_file_may_set_ordinary_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, 'wait_timeout = 5\n[fake]\nseed = 3\n[dashscope]\nmodel = "m2"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = load_config(environ={})
    assert config.core.wait_timeout == 5.0 and config.sections["dashscope"]["model"] == "m2"
    write(tmp_path, '[acme]\nmodel = "m2"\n')
    with pytest.raises(ConfigurationError, match=r"sets \[acme\]"):
        load_config(environ={})


# -- layers: the user file is always read; a named or working-directory file adds to it ----


def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = default_config_paths({})[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


USER = 'max_spend = "5 USD"\njournal_url = "sqlite:///mine.sqlite3"\nwait_timeout = 60\n'


def test_a_working_directory_file_adds_to_the_user_file_field_by_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = user_file(tmp_path, monkeypatch, USER + '[dashscope]\nregion = "virginia"\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    cwd = write(repo, 'wait_timeout = 5\n[dashscope]\nmodel = "wan2.6-t2v"\n')
    monkeypatch.chdir(repo)
    config = load_config(environ={})
    assert config.core.max_spend == "5 USD" and config.core_sources["max_spend"] == f"file ({user})"
    assert config.core.journal_url == "sqlite:///mine.sqlite3"
    assert (
        config.core.wait_timeout == 5.0 and config.core_sources["wait_timeout"] == f"file ({cwd})"
    )
    assert config.sections["dashscope"] == {"region": "virginia", "model": "wan2.6-t2v"}
    assert config.files == (cwd, user) and config.file == cwd


class _ModelAndRegion(ProviderSettings):
    model: str = "m1"
    region: str = "r1"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_named_file_is_layered_over_the_user_file_and_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    user = user_file(tmp_path, monkeypatch, USER + '[acme]\nmodel = "m-user"\nregion = "r-user"\n')
    named = write(tmp_path, 'journal_url = "sqlite:///project.sqlite3"\n[acme]\nregion = "r2"\n')
    if how == "argument":
        config = load_config(config=named, environ={})
    else:
        config = load_config(environ={"VIDEOPROVIDER_CONFIG": str(named)})
    assert config.core.max_spend == "5 USD" and config.core.wait_timeout == 60.0
    assert config.core.journal_url == "sqlite:///project.sqlite3"  # trusted: it was named
    settings, sources = config.resolve_provider("acme", _ModelAndRegion, {})
    assert (settings.model, settings.region) == ("m-user", "r2")
    assert sources == {"model": f"file ({user})", "region": f"file ({named})"}


def test_precedence_is_arguments_environment_named_file_user_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = user_file(
        tmp_path, monkeypatch, "poll_interval = 1\npoll_jitter = 0.5\nwait_timeout = 9\n"
    )
    named = write(tmp_path, "poll_interval = 3\nwait_timeout = 10\n")
    config = load_config(
        config=named,
        environ={"VIDEOPROVIDER_WAIT_TIMEOUT": "20", "VIDEOPROVIDER_PROVIDER": "from-env"},
        args={"provider": "from-arg"},
    )
    assert config.core_sources == {
        **dict.fromkeys(CoreSettings.model_fields, "default"),
        "provider": "argument",
        "wait_timeout": "environment (VIDEOPROVIDER_WAIT_TIMEOUT)",
        "poll_interval": f"file ({named})",
        "poll_jitter": f"file ({user})",
    }
    assert (config.core.poll_interval, config.core.poll_jitter) == (3.0, 0.5)


def test_config_false_reads_no_file_not_even_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_file(tmp_path, monkeypatch, USER)
    assert load_config(config=False, environ={}).core.max_spend is None
    assert load_config(environ={}).core.max_spend == "5 USD"


def test_price_rows_of_every_layer_count_the_named_files_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = '[[prices.fake]]\nmodel = "{}"\nper_second = {}\ncurrency = "USD"\n'
    user = user_file(tmp_path, monkeypatch, row.format("*", "0.02") + row.format("b", "0.03"))
    named = write(tmp_path, row.format("a", "0.05"))
    prices = load_config(config=named, environ={}).prices("fake")
    assert [(p.model, str(p.per_second), p.source) for p in prices] == [
        ("a", "0.05", f"config file ({named})"),
        ("*", "0.02", f"config file ({user})"),
        ("b", "0.03", f"config file ({user})"),
    ]
