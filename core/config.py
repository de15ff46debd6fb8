"""Settings and their precedence: arguments > environment > config files > defaults.

The config file is TOML. Core settings sit at the top level; each provider's settings sit in
a table named after it:

    provider = "dashscope"
    wait_timeout = 900

    [dashscope]
    region = "singapore"

Files are layers, not alternatives: the user config file (`config.toml` in the user config
dir) is always read, and a file named by `--config`, `config=` or `$VIDEOPROVIDER_CONFIG`,
else a `./videoprovider.toml` in the working directory, overrides it field by field. What a
working-directory file nobody vouched for may set is the trust policy's business
(`videoprovider.trust`). Every resolved value remembers the file it came from, so `config
show` can say so; secrets stay `SecretStr` and never print.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from .config_files import ConfigArg, Layer, default_config_paths, merge, read_layers
from .errors import ConfigurationError
from .prices import Price, user_prices
from .redact import redact_userinfo
from .trust import InsecurePermissionsWarning, SettingsModel, is_secret

__all__ = [
    "Config",
    "ConfigArg",
    "CoreSettings",
    "InsecurePermissionsWarning",
    "Layer",
    "Resolved",
    "default_config_paths",
    "load_config",
]

ENV_PREFIX = "VIDEOPROVIDER_"
M = TypeVar("M", bound=BaseModel)


class CoreSettings(SettingsModel):
    """Settings of videoprovider itself (not of any one provider).

    A field a working-directory config file may set carries
    `json_schema_extra={"untrusted_file": "allow"}` (videoprovider.trust): tuning only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(
        default="fake",
        description="Name of the provider plugin to use.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    poll_interval: float = Field(
        default=2.0,
        gt=0,
        description="Shortest delay between two polls of a task, seconds.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    poll_max_interval: float = Field(
        default=15.0,
        gt=0,
        description="Longest delay between two polls of a task, seconds.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    poll_lag_ratio: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="Detection lag allowed, as a fraction of a task's age: polls at ages "
        "a, a*(1+ratio), ...",
        json_schema_extra={"untrusted_file": "allow"},
    )
    poll_typical_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long tasks usually take, the scheduler's prior until it has "
        "learned (default: the provider's estimate).",
        json_schema_extra={"untrusted_file": "allow"},
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
        json_schema_extra={"untrusted_file": "allow"},
    )
    watch_streams: int = Field(
        default=16,
        ge=0,
        le=1000,
        description="Most status streams open at once per provider, for providers that "
        "stream a task's status (fal): each follows one waited task instead of polls; "
        "0 never streams (see docs/architecture.md).",
        json_schema_extra={"untrusted_file": "allow"},
    )
    poll_jitter: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="Random fraction taken off first and retry delays.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    wait_timeout: float = Field(
        default=1800.0,
        gt=0,
        description="Default time wait() gives a task, seconds.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    download_max_bytes: int = Field(
        default=2 * 1024**3, gt=0, description="Largest video download accepted, bytes."
    )
    download_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Time a whole download may take, seconds (a read that stalls 30 s fails "
        "sooner).",
        json_schema_extra={"untrusted_file": "allow"},
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
    """The loaded configuration: core settings, the merged provider sections, the files read.

    `file` is the most specific file read (named or working-directory, else the user's);
    `layers` every file read in the order they are merged, the user's first.
    """

    core: CoreSettings
    core_sources: dict[str, str]
    file: Path | None
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    layers: tuple[Layer, ...] = ()
    # section -> key -> the file that set it, for `config show`'s sources.
    origins: dict[str, dict[str, Path]] = field(default_factory=dict, repr=False)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every config file read, the first winning (as `default_config_paths` lists them)."""
        return tuple(layer.path for layer in reversed(self.layers))

    def resolve_provider(
        self, name: str, model: type[M], args: Mapping[str, Any]
    ) -> tuple[M, dict[str, str]]:
        """Validate provider `name`'s settings from `args`, env and its file sections."""
        aliases: dict[str, tuple[str, ...]] = dict(getattr(model, "env_vars", {}))
        return resolve(
            model,
            scope=name,
            args=args,
            environ=self.environ,
            env_prefix=f"{ENV_PREFIX}{_env_name(name)}_",
            aliases=aliases,
            file_values=self.sections.get(name, {}),
            file_sources=self.origins.get(name, {}),
        )

    def prices(self, provider: str) -> tuple[Price, ...]:
        """The `[[prices.<provider>]]` rows of every file, the most specific file's first (so
        its rows decide for the models they match)."""
        rows: list[Price] = []
        for layer in reversed(self.layers):
            rows += user_prices(layer.data, provider, layer.path)
        return tuple(rows)


def load_config(
    *,
    config: ConfigArg = None,
    environ: Mapping[str, str] | None = None,
    args: Mapping[str, Any] | None = None,
) -> Config:
    """Read the config files and resolve the core settings.

    The user config file is always read; over it, field by field, the file `config` names
    (it must exist), else the one `$VIDEOPROVIDER_CONFIG` names, else a `./videoprovider.toml`
    in the working directory, which is untrusted (see `videoprovider.trust`). `config=False`
    reads no file at all. `environ`: the environment to read (default `os.environ`). `args`:
    explicit core settings, which win over everything.
    """
    environ = dict(os.environ if environ is None else environ)
    # Cached for this call only: a plugin installed later must still be found.
    layers = read_layers(config, environ, functools.cache(_section_model))
    merged = merge(layers)
    core, sources = resolve(
        CoreSettings,
        scope=None,
        args=args or {},
        environ=environ,
        env_prefix=ENV_PREFIX,
        aliases={},
        file_values=merged.top,
        file_sources=merged.top_from,
    )
    return Config(
        core=core,
        core_sources=sources,
        file=layers[-1].path if layers else None,
        sections=merged.sections,
        environ=environ,
        layers=tuple(layers),
        origins=merged.origins,
    )


def resolve(
    model: type[M],
    *,
    scope: str | None,
    args: Mapping[str, Any],
    environ: Mapping[str, str],
    env_prefix: str,
    aliases: Mapping[str, tuple[str, ...]],
    file_values: Mapping[str, Any],
    file_sources: Mapping[str, Path],
) -> tuple[M, dict[str, str]]:
    """Pick each field of `model` from the first layer that sets it, then validate.
    `file_sources` names the file each of `file_values` came from."""
    where = f"[{scope}]" if scope else "the top level"
    fields = model.model_fields
    _reject_unknown(args, fields, lambda _: f"argument for {scope or 'videoprovider'}")
    _reject_unknown(file_values, fields, lambda k: f"key in {where} of {file_sources.get(k)}")
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
                values[name] = file_values[name]
                sources[name] = f"file ({file_sources.get(name)})"
            else:
                sources[name] = "default"
    try:
        settings = model.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, scope, sources, env_prefix, aliases) from None
    return settings, sources


def _reject_unknown(
    values: Mapping[str, Any], fields: Mapping[str, Any], what: Callable[[str], str]
) -> None:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigurationError(
            f"Unknown setting {unknown[0]!r} ({what(unknown[0])}). "
            f"Valid settings: {', '.join(fields)}."
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


def _section_model(section: str) -> type[BaseModel] | None:
    """The settings model that reads `section` ("" for the top level): None when no
    installed provider claims it, or its plugin cannot be loaded."""
    if not section:
        return CoreSettings
    from .plugins import load_provider_class
    from .refs import installed_provider_names

    if section not in installed_provider_names():
        return None
    try:
        settings: type[BaseModel] = load_provider_class(section).Settings
    except ConfigurationError:
        return None
    return settings


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
        if is_secret(type(settings).model_fields[name]) and value is not None:
            shown = value.get_secret_value() if isinstance(value, SecretStr) else value
            value = "**********" if shown else ""
        elif isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, str):
            value = redact_userinfo(value)
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
