"""The trust policy: what a working-directory config file may set, secrets, file modes."""

import json
import os
import re
import stat
import typing
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic.fields import FieldInfo

from videoprovider import trust
from videoprovider.config import CoreSettings, default_config_paths, load_config, redacted
from videoprovider.errors import ConfigurationError
from videoprovider.plugins import list_providers
from videoprovider.provider import ProviderSettings
from videoprovider.trust import InsecurePermissionsWarning, is_secret, untrusted_may_set

REFUSED = "which a config file found in the working directory"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cloned repository as the working directory, and an empty user config dir."""
    folder = tmp_path / "repo"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return folder


def plant(repo: Path, text: str, mode: int = 0o600) -> Path:
    path = repo / "videoprovider.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def user_file(text: str, mode: int = 0o600) -> Path:
    path = default_config_paths({})[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def every_settings_model() -> Iterator[tuple[str, type[BaseModel]]]:
    yield "", CoreSettings
    for info in list_providers():
        assert info.provider_class is not None, f"provider {info.name} is broken: {info.error}"
        yield info.name, info.provider_class.Settings


def every_field() -> list[tuple[str, str, FieldInfo]]:
    return [
        (section, name, info)
        for section, model in every_settings_model()
        for name, info in model.model_fields.items()
    ]


def toml_line(key: str, info: FieldInfo) -> str:
    value: Any = info.get_default() if not info.is_required() else "sk-test-0123456789abcdef"
    if value is None or isinstance(value, (Path, SecretStr)) or not json.dumps(value):
        value = "x"
    return f"{key} = {json.dumps(list(value) if isinstance(value, tuple) else value)}\n"


@pytest.mark.parametrize(
    ("section", "name", "info"),
    every_field(),
    ids=[f"{s or 'core'}.{n}" for s, n, _ in every_field()],
)
def test_every_setting_is_either_marked_safe_or_refused_from_an_untrusted_file(
    repo: Path, section: str, name: str, info: FieldInfo
) -> None:
    text = (f"[{section}]\n" if section else "") + toml_line(name, info)
    plant(repo, text)
    label = f"{section}.{name}" if section else name
    if untrusted_may_set(info):
        try:
            load_config(environ={})
        except ConfigurationError as exc:
            assert REFUSED not in str(exc), exc  # refused for its value, never for trust
    else:
        with pytest.raises(ConfigurationError, match=re.escape(f"sets {label}, {REFUSED}")):
            load_config(environ={})


# What no setting marked safe may be: a decision someone got wrong fails here.
_UNSAFE_NAMES = re.compile(r"(url|host|endpoint|dir|file|path|key|token|secret|password)s?$")
_UNSAFE_KINDS = (Path, SecretStr)


def test_no_setting_marked_safe_is_a_secret_path_url_or_spending_setting() -> None:
    marked = [(s, n, i) for s, n, i in every_field() if untrusted_may_set(i)]
    assert marked, "no setting is marked safe at all"
    for section, name, info in marked:
        kinds = typing.get_args(info.annotation) or (info.annotation,)
        assert not _UNSAFE_NAMES.search(name), f"{section}.{name} looks like a path or URL"
        assert not any(isinstance(k, type) and issubclass(k, _UNSAFE_KINDS) for k in kinds)
        assert "spend" not in name and "journal" not in name and "budget" not in name
    core = {n for s, n, _ in marked if not s}
    assert core.isdisjoint({"max_spend", "spend_period", "journal", "journal_url"})
    assert core.isdisjoint({"download_allow_private", "download_max_bytes", "poll_budget"})


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ('[dashscope]\napi_key = "sk-test-attacker0123"\n', "dashscope.api_key"),
        ('[replicate]\napi_token = "sk-test-attacker0123"\n', "replicate.api_token"),
        ('[replicate]\nwebhook_secret = "whsec_c2stdGVzdA=="\n', "replicate.webhook_secret"),
        ('[dashscope]\nevents_token = "sk-test-attacker0123456"\n', "dashscope.events_token"),
        ('[replicate]\nschema_cache_dir = "/tmp/theirs"\n', "replicate.schema_cache_dir"),
        ('[replicate]\nmodel = "attacker/exfiltrate"\n', "replicate.model"),
        ('[dashscope]\nregion = "beijing"\n', "dashscope.region"),
        ('[dashscope]\nworkspace_id = "ws1"\n', "dashscope.workspace_id"),
        ('[fake]\ncancel_file = "/tmp/theirs.sqlite3"\n', "fake.cancel_file"),
        ('max_spend = "1000 USD"\n', "max_spend"),
        ('spend_period = "hour"\n', "spend_period"),
        ("journal = false\n", "journal"),
        ('journal_url = "sqlite:////tmp/theirs"\n', "journal_url"),
        ("download_allow_private = true\n", "download_allow_private"),
        ("download_max_bytes = 1\n", "download_max_bytes"),
        ('[[prices.fake]]\nmodel = "*"\nper_video = 0\ncurrency = "USD"\n', "[[prices.fake]]"),
        ("[not-installed]\nanything = 1\n", "[not-installed]"),
        ("[fake]\nsceanrio = 'fail'\n", "fake.sceanrio"),
        ("wait_timout = 3\n", "wait_timout"),
    ],
)
def test_an_untrusted_file_is_refused_naming_the_setting_and_how_to_trust_it(
    repo: Path, text: str, label: str
) -> None:
    path = plant(repo, text)
    with pytest.raises(ConfigurationError) as info:
        load_config(environ={})
    message = str(info.value)
    assert f"sets {label}, {REFUSED}" in message
    for way in (f"--config {path}", f"VIDEOPROVIDER_CONFIG={path}", "trusted_folders"):
        assert way in message
    assert "attacker0123" not in message


def test_a_trusted_folder_or_a_named_file_may_set_anything(repo: Path) -> None:
    text = 'max_spend = "3"\n[[prices.fake]]\nmodel = "*"\nper_video = 1\ncurrency = "USD"\n'
    path = plant(repo, text)
    assert load_config(config=path, environ={}).core.max_spend == "3"
    user_file(f'trusted_folders = ["{repo}"]\n')
    config = load_config(environ={})
    assert config.core.max_spend == "3" and len(config.prices("fake")) == 1


def test_a_user_files_max_spend_and_journal_url_survive_a_working_directory_file(
    repo: Path,
) -> None:
    user_file('max_spend = "5 USD"\njournal_url = "sqlite:///mine.sqlite3"\n')
    plant(repo, "wait_timeout = 5\n")
    config = load_config(environ={})
    assert (config.core.max_spend, config.core.journal_url) == ("5 USD", "sqlite:///mine.sqlite3")
    assert config.core.wait_timeout == 5.0


# -- secrets come from the schema ------------------------------------------------------------


class Flagged(ProviderSettings):
    password: str = Field(default="", json_schema_extra={"secret": True})
    token: SecretStr | None = None
    name: str = "n"


def test_a_field_is_secret_when_typed_secretstr_or_flagged() -> None:
    fields = Flagged.model_fields
    assert is_secret(fields["password"]) and is_secret(fields["token"])
    assert not is_secret(fields["name"])
    shown = redacted(Flagged(password="sk-test-hunter2", token=SecretStr("sk-test-t")))
    assert shown == {"password": "**********", "token": "**********", "name": "n"}
    assert redacted(Flagged())["token"] is None


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_a_readable_file_with_any_secret_warns_once_naming_them(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = user_file(
        '[replicate]\napi_token = "sk-test-tok0123456"\n'
        'webhook_secret = "whsec_c2stdGVzdA=="\n'
        '[dashscope]\nevents_token = "sk-test-events0123456789"\nmodel = "m"\n',
        mode=0o644,
    )
    with pytest.warns(InsecurePermissionsWarning) as record:
        load_config(environ={})
        load_config(environ={})
    ours = [w for w in record if w.category is InsecurePermissionsWarning]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = str(ours[0].message)
    for name in ("replicate.api_token", "replicate.webhook_secret", "dashscope.events_token"):
        assert name in message
    assert "dashscope.model" not in message and f"chmod 600 {path}" in message
    assert "sk-test" not in message and "\n" not in message


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_a_password_in_a_url_counts_as_a_secret_and_harmless_files_do_not_warn(
    repo: Path,
) -> None:
    user_file('journal_url = "postgresql://app:sk-test-pw@db/video"\n', mode=0o644)
    with pytest.warns(InsecurePermissionsWarning, match="journal_url"):
        load_config(environ={})
    plant(repo, 'wait_timeout = 5\n[dashscope]\nmodel = "m"\n', mode=0o644)
    user_file("wait_timeout = 6\n", mode=0o644)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(environ={})


def fake_stat(real: os.stat_result, **changes: int) -> os.stat_result:
    fields = dict(
        zip(
            ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size"),
            tuple(real)[:7],
            strict=True,
        )
    )
    fields.update(changes)
    return os.stat_result((*fields.values(), *tuple(real)[7:10]))


@pytest.mark.skipif(os.name != "posix", reason="file owners")
def test_a_file_owned_by_another_user_is_refused_like_a_world_writable_one(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = user_file("wait_timeout = 5\n")
    other = 4242 if os.getuid() != 4242 else 4243
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: fake_stat(real_fstat(fd), st_uid=other))
    with pytest.raises(ConfigurationError, match="belongs to another user") as info:
        load_config(environ={})
    assert str(path) in str(info.value) and f"uid {other}" in str(info.value)
    for owner in (0, os.getuid()):
        monkeypatch.setattr(os, "fstat", lambda fd, o=owner: fake_stat(real_fstat(fd), st_uid=o))
        assert load_config(environ={}).core.wait_timeout == 5.0


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
@pytest.mark.parametrize("bits", [stat.S_IWGRP, stat.S_IWOTH])
def test_a_file_others_can_write_is_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / "x.toml"
    path.write_text("wait_timeout = 5\n")
    real = os.stat(path)
    with pytest.raises(ConfigurationError, match="written by other users"):
        trust.check_file_mode(path, fake_stat(real, st_mode=stat.S_IFREG | 0o600 | bits))
    trust.check_file_mode(path, fake_stat(real, st_mode=stat.S_IFREG | 0o600))


def test_a_zero_price_row_in_a_cloned_folder_cannot_defeat_the_spending_cap(
    repo: Path, tmp_path: Path
) -> None:
    from videoprovider import RequestRejected, VideoClient
    from videoprovider.clock import VirtualClock

    plant(repo, '[[prices.fake]]\nmodel = "*"\nper_video = 0\ncurrency = "USD"\n')
    env = {"VIDEOPROVIDER_MAX_SPEND": "0.01 USD"}
    accepted = 0
    journal = tmp_path / "j.sqlite3"
    with (
        pytest.raises(ConfigurationError, match=re.escape("sets [[prices.fake]]")),
        VideoClient("fake", environ=env, journal=journal, clock=VirtualClock()) as client,
    ):
        for _ in range(10):
            try:
                client.submit("a cat", duration=5)
                accepted += 1
            except RequestRejected:  # the fake has no price: unknown is refused
                pass
    assert accepted == 0


def test_the_docs_list_what_an_untrusted_file_may_set() -> None:
    from videoprovider.plugins import load_provider_class

    def allowed(model: type[BaseModel]) -> str:
        names = [n for n, i in model.model_fields.items() if untrusted_may_set(i)]
        return ", ".join(f"`{n}`" for n in names)

    rows = [f"| top level | {allowed(CoreSettings)} |"]
    for name in ("dashscope", "fake", "replicate"):  # the providers this repository ships
        rows.append(f"| `[{name}]` | {allowed(load_provider_class(name).Settings)} |")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    assert "\n".join(rows) in doc
