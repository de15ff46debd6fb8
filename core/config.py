"""Settings and their precedence: explicit arguments > environment > config file > defaults.

The config file is TOML. Core settings sit at the top level; each provider's settings sit in
a table named after it:

    provider = "dashscope"
    wait_timeout = 900

    [dashscope]
    region = "singapore"

It is found at `$VIDEOPROVIDER_CONFIG`, else `./videoprovider.toml`, else `config.toml` in
the user config dir (`videoprovider config path` prints it). Every resolved value remembers
where it came from, so `config show` can say so; secrets stay `SecretStr` and never print.

A `./videoprovider.toml` found by the search, not named by the user, may come with a cloned
repository: it may not say where requests or data go (`base_url`, `journal_url`, ...) unless
the user config lists its folder in `trusted_folders`, or else it could send the user's key
from the environment to a host of its author's choosing (docs/configuration.md, SECURITY.md).
"""

from __future__ import annotations

import os
import re
import stat
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "Config",
    "CoreSettings",
    "InsecurePermissionsWarning",
    "Resolved",
    "default_config_paths",
    "load_config",
]

ENV_PREFIX = "VIDEOPROVIDER_"
CONFIG_ENV = "VIDEOPROVIDER_CONFIG"
FILE_NAME = "videoprovider.toml"
TRUST_KEY = "trusted_folders"
# Settings that decide where requests, keys or data go; a working-directory file nobody
# vouched for may not set them (nor any key ending like a URL, nor any value that is a URL).
DESTINATION_KEYS = frozenset(
    {"base_url", "region", "workspace_id", "journal_url", "download_allow_private", TRUST_KEY}
)
_DESTINATION_SUFFIXES = ("_url", "_host", "_endpoint")

_URL_PASSWORD = re.compile(r"(://[^/:@\s]+:)[^@/\s]+@")
ConfigArg = str | os.PathLike[str] | Literal[False] | None
M = TypeVar("M", bound=BaseModel)


class InsecurePermissionsWarning(UserWarning):
    """A file holding secrets or private data can be read by other users of this machine."""


class CoreSettings(BaseModel):
    """Settings of videoprovider itself (not of any one provider)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(default="fake", description="Name of the provider plugin to use.")
    poll_interval: float = Field(
        default=2.0, gt=0, description="Shortest delay between two polls of a task, seconds."
    )
    poll_max_interval: float = Field(
        default=15.0, gt=0, description="Longest delay between two polls of a task, seconds."
    )
    poll_lag_ratio: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="Detection lag allowed, as a fraction of a task's age: polls at ages "
        "a, a*(1+ratio), ...",
    )
    poll_typical_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long tasks usually take, the scheduler's prior until it has "
        "learned (default: the provider's estimate).",
    )
    poll_budget: float | None = Field(
        default=None,
        gt=0,
        description="Status requests per second the account may receive; clients sharing a "
        "journal split it (default: the provider's documented limit, e.g. DashScope's 20).",
    )
    poll_listing: bool = Field(
        default=True,
        description="Learn which tasks finished from the provider's task listing, when it "
        "has one, instead of polling each task often (see docs/performance.md).",
    )
    poll_jitter: float = Field(
        default=0.2, ge=0, lt=1, description="Random fraction taken off first and retry delays."
    )
    wait_timeout: float = Field(
        default=1800.0, gt=0, description="Default time wait() gives a task, seconds."
    )
    download_max_bytes: int = Field(
        default=2 * 1024**3, gt=0, description="Largest video download accepted, bytes."
    )
    download_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Time a whole download may take, seconds (a read that stalls 30 s fails "
        "sooner).",
    )
    download_allow_private: bool = Field(
        default=False,
        description="Download from loopback, private and link-local addresses too (a server "
        "of your own); off, such URLs are refused on every redirect hop.",
    )
    journal: bool = Field(
        default=False,
        description="Record every task in the journal (the CLI does unless --no-journal).",
    )
    journal_url: str | None = Field(
        default=None,
        description="Journal database: a file path, sqlite:///PATH or postgresql://...; "
        "default: journal.sqlite3 in the user data dir.",
    )
    max_spend: str | None = Field(
        default=None,
        description="Refuse, unsent, a submit that would bring the spending of the period "
        'over this amount ("20", "20 USD"), counted in the journal across every process '
        "sharing it.",
    )
    spend_period: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="The calendar period (UTC) max_spend applies to."
    )

    @field_validator("max_spend", mode="before")
    @classmethod
    def _max_spend(cls, v: object) -> str | None:
        from .errors import RequestRejected
        from .prices import parse_cap

        if v is None:
            return None
        try:
            amount, currency = parse_cap(v, field="max_spend")  # type: ignore[arg-type]
        except RequestRejected as exc:
            raise ValueError(exc.message) from None
        return f"{amount} {currency}" if currency else str(amount)


@dataclass(frozen=True)
class Resolved:
    """A validated settings model and where each field's value came from."""

    settings: BaseModel
    sources: dict[str, str]


@dataclass(frozen=True)
class Config:
    """The loaded configuration: core settings, the raw provider sections, the file used."""

    core: CoreSettings
    core_sources: dict[str, str]
    file: Path | None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def resolve_provider(
        self, name: str, model: type[M], args: Mapping[str, Any]
    ) -> tuple[M, dict[str, str]]:
        """Validate provider `name`'s settings from `args`, env and its file section."""
        aliases: dict[str, tuple[str, ...]] = dict(getattr(model, "env_vars", {}))
        return resolve(
            model,
            scope=name,
            args=args,
            environ=self.environ,
            env_prefix=f"{ENV_PREFIX}{_env_name(name)}_",
            aliases=aliases,
            file_values=self.sections.get(name, {}),
            file=self.file,
        )


def default_config_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for, in order."""
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return [Path(environ[CONFIG_ENV]).expanduser()]
    return [Path.cwd() / FILE_NAME, _user_file()]


def load_config(
    *,
    config: ConfigArg = None,
    environ: Mapping[str, str] | None = None,
    args: Mapping[str, Any] | None = None,
) -> Config:
    """Read the config file (if any) and resolve the core settings.

    `config`: a file path (must exist), None to search the default places, or False for no
    file at all. `environ`: the environment to read (default `os.environ`). `args`: explicit
    core settings, which win over everything.
    """
    environ = dict(os.environ if environ is None else environ)
    path = _find_file(config, environ)
    data = _read_toml(path) if path else {}
    user_file = _user_file()
    if path is not None:
        _check_trust_key(path, data, user_file)
        if config is None and not environ.get(CONFIG_ENV) and not _same(path, user_file):
            _refuse_untrusted_destinations(path, data, user_file)
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    core, sources = resolve(
        CoreSettings,
        scope=None,
        args=args or {},
        environ=environ,
        env_prefix=ENV_PREFIX,
        aliases={},
        file_values=top,
        file=path,
    )
    return Config(core=core, core_sources=sources, file=path, sections=sections, environ=environ)


def resolve(
    model: type[M],
    *,
    scope: str | None,
    args: Mapping[str, Any],
    environ: Mapping[str, str],
    env_prefix: str,
    aliases: Mapping[str, tuple[str, ...]],
    file_values: Mapping[str, Any],
    file: Path | None,
) -> tuple[M, dict[str, str]]:
    """Pick each field of `model` from the first layer that sets it, then validate."""
    where = f"[{scope}]" if scope else "the top level"
    fields = model.model_fields
    _reject_unknown(args, fields, f"argument for {scope or 'videoprovider'}")
    _reject_unknown(file_values, fields, f"key in {where} of {file}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in fields:
        if name in args and args[name] is not None:
            values[name], sources[name] = args[name], "argument"
            continue
        for var in (f"{env_prefix}{name.upper()}", *aliases.get(name, ())):
            if environ.get(var, "") != "":
                values[name], sources[name] = environ[var], f"environment ({var})"
                break
        else:
            if name in file_values:
                values[name], sources[name] = file_values[name], f"file ({file})"
            else:
                sources[name] = "default"
    try:
        settings = model.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, scope, sources, env_prefix, aliases) from None
    return settings, sources


def _reject_unknown(values: Mapping[str, Any], fields: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"Unknown setting {unknown[0]!r} ({what}). Valid settings: {', '.join(fields)}."
        )


def _config_error(
    exc: ValidationError,
    scope: str | None,
    sources: Mapping[str, str],
    env_prefix: str,
    aliases: Mapping[str, tuple[str, ...]],
) -> ConfigurationError:
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        label = f"{scope}.{name}" if scope else name
        if err["type"] == "missing":
            envs = " or ".join((f"{env_prefix}{name.upper()}", *aliases.get(name, ())))
            section = f"[{scope}] section" if scope else "top level"
            lines.append(
                f"{label} is required: set {envs}, or {name} in the {section} of the config file"
            )
        else:
            # pydantic echoes the bad input; a secret's value must not reach the message.
            lines.append(f"{label} (from {sources.get(name, 'default')}): {err['msg']}")
    return ConfigurationError("Invalid configuration: " + "; ".join(lines) + ".")


def _find_file(config: ConfigArg, environ: Mapping[str, str]) -> Path | None:
    if config is False:
        return None
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"Config file {path} does not exist.")
        return path
    candidates = default_config_paths(environ)
    if environ.get(CONFIG_ENV):
        if not candidates[0].is_file():
            raise ConfigurationError(
                f"Config file {candidates[0]} (from {CONFIG_ENV}) does not exist.",
                hint=f"Create it or unset {CONFIG_ENV}.",
            )
        return candidates[0]
    return next((p for p in candidates if p.is_file()), None)


def _user_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("videoprovider")) / "config.toml"


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _check_trust_key(path: Path, data: dict[str, Any], user_file: Path) -> None:
    """Take `trusted_folders` out of `data`: only the user's own config file may set it."""
    if TRUST_KEY not in data:
        return
    if not _same(path, user_file):
        raise ConfigurationError(
            f"{TRUST_KEY} is honoured only in the user config file {user_file}, not in {path}: "
            "a file could otherwise vouch for itself.",
            hint=f"Move {TRUST_KEY} to {user_file}.",
        )
    _trusted_folders(data.pop(TRUST_KEY), path)


def _trusted_folders(value: Any, path: Path) -> list[Path]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"{TRUST_KEY} in {path} must be a list of folder paths, e.g. "
            f'{TRUST_KEY} = ["~/src/my-app"].'
        )
    return [Path(v).expanduser().resolve() for v in value]


def _refuse_untrusted_destinations(path: Path, data: dict[str, Any], user_file: Path) -> None:
    """A file the search found in the working directory may not choose where things go."""
    found = _destinations(data)
    if not found:
        return
    folder = path.parent.resolve()
    if user_file.is_file():
        user = _read_toml(user_file)
        if folder in _trusted_folders(user.get(TRUST_KEY, []), user_file):
            return
    raise ConfigurationError(
        f"{path} sets {found[0]}, which decides where requests, your API key or your data "
        "go; a config file found in the working directory may not do that unless you trust "
        "its folder.",
        hint=f"If you wrote this file, name it explicitly (--config {path} or "
        f'{CONFIG_ENV}={path}), or add {TRUST_KEY} = ["{folder}"] to {user_file}. '
        "Otherwise remove the setting or run from another folder.",
    )


def _destinations(data: Mapping[str, Any], scope: str = "") -> list[str]:
    found = []
    for key, value in data.items():
        label = f"{scope}.{key}" if scope else key
        if isinstance(value, dict):
            found.extend(_destinations(value, label))
        elif (
            key in DESTINATION_KEYS
            or key.endswith(_DESTINATION_SUFFIXES)
            or (isinstance(value, str) and "://" in value)
        ):
            found.append(label)
    return found


def _holds_secret(data: Mapping[str, Any]) -> bool:
    return any(
        _holds_secret(v) if isinstance(v, dict) else k == "api_key" or k.endswith("_key")
        for k, v in data.items()
    )


def _check_mode(path: Path, data: Mapping[str, Any]) -> None:
    if os.name != "posix":
        return  # Windows protects the profile folder with ACLs, not mode bits
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigurationError(
            f"Config file {path} can be written by other users (mode {mode & 0o777:o}); "
            "they could change where requests and your API key go.",
            hint=f"Run: chmod go-w {path}",
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH) and _holds_secret(data):
        warnings.warn(
            f"Config file {path} holds an API key and can be read by other users (mode "
            f"{mode & 0o777:o}); run: chmod 600 {path}",
            InsecurePermissionsWarning,
            stacklevel=4,
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
        _check_mode(path, data)
        return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"Config file {path} is not valid TOML: {exc}.", hint="Fix the file's syntax."
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"Config file {path} cannot be read: {exc.strerror}.") from None


def _env_name(provider: str) -> str:
    return provider.upper().replace("-", "_").replace(".", "_")


def describe(settings: BaseModel, sources: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each setting's redacted value and where it came from, for `config show`."""
    return {k: {"value": v, "source": sources[k]} for k, v in redacted(settings).items()}


def redacted(settings: BaseModel) -> dict[str, Any]:
    """The settings as plain JSON-able values with every secret replaced by a mask."""
    out: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "**********" if value.get_secret_value() else ""
        elif isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, str):
            value = _URL_PASSWORD.sub(r"\1****@", value)
        out[name] = value
    return out


def settings_table(model: type[BaseModel], env_prefix: str) -> str:
    """A Markdown table of `model`'s settings, for the docs (tests keep the docs in sync)."""
    aliases: dict[str, tuple[str, ...]] = dict(getattr(model, "env_vars", {}))
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        envs = ", ".join(f"`{v}`" for v in (f"{env_prefix}{name.upper()}", *aliases.get(name, ())))
        default = "required" if info.is_required() else f"`{info.get_default()!r}`"
        rows.append(f"| `{name}` | {envs} | {default} | {info.description or ''} |")
    return "\n".join(rows)
