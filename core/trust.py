"""Which config files to believe, and how far: the trust policy and the file-mode checks.

Three files may be read (docs/configuration.md): the user's own config file, always; over it
either a file the user named (`--config`, `config=`, `VIDEOPROVIDER_CONFIG`) or a
`./videoprovider.toml` found in the working directory. The user's file and a named one are
trusted. A working-directory file may have come with a cloned repository, so unless the
user's file lists its folder in `trusted_folders` it is *untrusted*: it may set only the
settings whose field says so, `Field(json_schema_extra={"untrusted_file": "allow"})` (model
names, timeouts, polling). Everything else (keys, secrets, spending, prices, the journal,
paths, URLs) is refused, so a setting added tomorrow is refused until someone decides.

Whether a setting is a secret is read from its schema too (`SecretStr`, or
`json_schema_extra={"secret": True}`): that one fact decides redaction, the refusal above and
the warning about a file other users can read.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo

from .errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ALLOW_UNTRUSTED",
    "InsecurePermissionsWarning",
    "SettingsModel",
    "is_secret",
    "read_config_file",
    "refuse_untrusted",
    "trusted_folders",
    "untrusted_may_set",
    "warn_if_readable",
]

CONFIG_ENV = "VIDEOPROVIDER_CONFIG"
TRUST_KEY = "trusted_folders"
PRICES = "prices"
# What a settings field declares to let an untrusted file set it; the only value there is.
ALLOW_UNTRUSTED = {"untrusted_file": "allow"}
# A password in a URL (postgresql://app:PW@db/...) is a secret wherever it sits.
URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")
# For a section no installed provider claims there is no schema to ask: go by the name.
_SECRET_NAMES = re.compile(r"(^|_)(key|token|secret|password)$")

# (section or "" for the top level) -> its settings model, or None when nothing claims it.
ModelOf = Callable[[str], "type[BaseModel] | None"]


class InsecurePermissionsWarning(UserWarning):
    """A file holding secrets or private data can be read by other users of this machine."""


def _extra(info: FieldInfo) -> Mapping[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, Mapping) else {}


class SettingsModel(BaseModel):
    """A settings model whose repr never shows a secret: fields that `is_secret` names are
    masked even when typed `str`, and the userinfo of every URL is `***` (core/redact.py),
    so a `base_url` of https://user:PASSWORD@host prints without its password."""

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        from .redact import redact_userinfo

        fields = type(self).model_fields
        for name, value in super().__repr_args__():
            info = fields.get(name) if name else None
            if info is not None and is_secret(info) and value is not None:
                yield name, value if isinstance(value, (SecretStr, SecretBytes)) else "**********"
            elif isinstance(value, str):
                yield name, redact_userinfo(value)
            else:
                yield name, value


def is_secret(info: FieldInfo) -> bool:
    """Whether a settings field holds a secret: typed SecretStr (or SecretBytes, alone or in
    a union), or marked `json_schema_extra={"secret": True}`."""
    if _extra(info).get("secret") is True:
        return True

    def walk(tp: Any) -> bool:
        if isinstance(tp, type) and issubclass(tp, (SecretStr, SecretBytes)):
            return True
        return any(walk(arg) for arg in typing.get_args(tp))

    return walk(info.annotation)


def untrusted_may_set(info: FieldInfo) -> bool:
    """Whether an untrusted (working-directory) config file may set this field."""
    return _extra(info).get("untrusted_file") == "allow" and not is_secret(info)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the TOML file at `path`, refusing it when someone else could have written it:
    writable by group or others, or owned by a user who is neither you nor root. The checks
    are made on the open file, so what was checked is what is read."""
    try:
        with path.open("rb") as fh:
            check_file_mode(path, os.fstat(fh.fileno()))
            data: dict[str, Any] = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"Config file {path} is not valid TOML: {exc}.", hint="Fix the file's syntax."
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    return data


def check_file_mode(path: Path, st: os.stat_result) -> None:
    """Refuse a config file that another user could have written (POSIX only: on Windows the
    profile folder's ACLs protect it)."""
    if os.name != "posix":
        return
    mode = st.st_mode & 0o777
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigurationError(
            f"Config file {path} can be written by other users (mode {mode:o}); they could "
            "change where requests and your API key go.",
            hint=f"Run: chmod go-w {path}",
        )
    if st.st_uid not in (0, os.getuid()):
        raise ConfigurationError(
            f"Config file {path} belongs to another user (uid {st.st_uid}); they could change "
            "where requests and your API key go.",
            hint=f"Use a config file of your own, or take this one over: cp {path} "
            f"{path}.mine && mv {path}.mine {path}",
        )


_warned: set[Path] = set()


def warn_if_readable(path: Path, secrets: list[str]) -> None:
    """Warn, once per file per process, that a file holding `secrets` is readable by others."""
    if os.name != "posix" or not secrets:
        return
    key = path.resolve()
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if key in _warned or not mode & (stat.S_IRGRP | stat.S_IROTH):
        return
    _warned.add(key)
    message = (
        f"Config file {path} holds a secret ({', '.join(secrets)}) and can be read by other "
        f"users (mode {mode & 0o777:o}); run: chmod 600 {path}"
    )
    if sys.version_info >= (3, 12):
        # Point at the caller's line, however deep in videoprovider the file was read.
        package = str(Path(__file__).resolve().parent)
        warnings.warn(message, InsecurePermissionsWarning, skip_file_prefixes=(package,))
    else:  # pragma: no cover - exercised before 3.12 only
        warnings.warn(message, InsecurePermissionsWarning, stacklevel=3)


def _entries(data: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(section or "", key, value) of every setting in a file; price rows are one entry each
    provider."""
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                yield key, sub, item
        else:
            yield "", key, value


def secrets_in(data: Mapping[str, Any], model_of: ModelOf) -> list[str]:
    """The settings in `data` that hold secrets, by their schema (by name where no installed
    model claims the section), plus any value with a password in a URL."""
    found = []
    for section, key, value in _entries(data):
        model = model_of(section) if section != PRICES else None
        info = model.model_fields.get(key) if model is not None else None
        if info is not None:
            secret = is_secret(info)
        else:
            secret = section not in ("", PRICES) and bool(_SECRET_NAMES.search(key))
        if secret or (isinstance(value, str) and URL_PASSWORD.search(value)):
            found.append(f"{section}.{key}" if section else key)
    return found


def trusted_folders(value: Any, path: Path) -> list[Path]:
    """The folders the user's config file trusts (`trusted_folders = ["~/src/app"]`)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"{TRUST_KEY} in {path} must be a list of folder paths, e.g. "
            f'{TRUST_KEY} = ["~/src/my-app"].'
        )
    return [Path(v).expanduser().resolve() for v in value]


def refuse_trust_key(path: Path, data: Mapping[str, Any], user_file: Path) -> None:
    """Only the user's own config file may list trusted folders: a file could otherwise vouch
    for itself."""
    if TRUST_KEY in data:
        raise ConfigurationError(
            f"{TRUST_KEY} is honoured only in the user config file {user_file}, not in {path}: "
            "a file could otherwise vouch for itself.",
            hint=f"Move {TRUST_KEY} to {user_file}.",
        )


def refuse_untrusted(
    path: Path, data: Mapping[str, Any], model_of: ModelOf, user_file: Path
) -> None:
    """Refuse an untrusted file that sets anything but the settings marked safe for it,
    naming the first such setting and how to trust the file."""
    for label, why in _refusals(data, model_of):
        folder = path.parent.resolve()
        raise ConfigurationError(
            f"{path} sets {label}, which a config file found in the working directory (it "
            f"may have come with a cloned repository) may not set: {why}.",
            hint=f"If you wrote this file, name it (--config {path}, {CONFIG_ENV}={path}, or "
            f"config='{path}' in Python), "
            f'or trust its folder with {TRUST_KEY} = ["{folder}"] in {user_file}. '
            "Otherwise remove the setting or run from another folder.",
        )


def _refusals(data: Mapping[str, Any], model_of: ModelOf) -> Iterator[tuple[str, str]]:
    for section, key, _ in _entries(data):
        label = f"{section}.{key}" if section else key
        if section == PRICES:
            yield f"[[prices.{key}]]", "price rows decide what max_cost and max_spend let through"
            continue
        model = model_of(section)
        if model is None:
            yield f"[{section}]", "no installed provider reads such a section"
            continue
        info = model.model_fields.get(key)
        if info is None:
            yield label, "it is not a known setting"
        elif is_secret(info):
            yield label, "it is a credential or secret, which decides whose account is used"
        elif not untrusted_may_set(info):
            yield (
                label,
                (
                    "only harmless settings (models, timeouts, polling) may come from such a "
                    "file, never credentials, spending, the journal, paths or URLs"
                ),
            )
