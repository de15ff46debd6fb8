"""The `[server]` config section: where the gateway listens, stores, and who may call it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ..config import Config
from ..errors import ConfigurationError
from ..redact import redact_userinfo

__all__ = ["KeySettings", "ServerSettings", "server_settings"]

SECTION = "server"
ENV_PREFIX = "VIDEOPROVIDER_SERVER_"
# The documented variable naming the config file (docs/configuration.md).
CONFIG_ENV = "VIDEOPROVIDER_CONFIG"
FILE_NAME = "videoprovider.toml"
_MODEL_REF = re.compile(r"^[a-z0-9][a-z0-9_.-]*/\S+$")
# What a config file found in the working directory may set (docs/configuration.md): only
# what cannot open the gateway to callers, move its data or raise what it may spend.
_HARMLESS: dict[str, Any] = {"untrusted_file": "allow"}


class KeySettings(BaseModel):
    """One caller key kept in the config file (`[[server.keys]]`): only its hash is stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, description="Who the key belongs to.")
    hash: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$",
        description='"sha256:<hex>" of the key, as `videoprovider serve keys hash` prints it.',
    )
    providers: tuple[str, ...] = Field(
        default=(), description="Providers the key may use (empty: every provider)."
    )
    models: tuple[str, ...] = Field(
        default=(), description='Models ("provider/model" or aliases) it may use (empty: all).'
    )
    rate_per_minute: int | None = Field(
        default=None, gt=0, description="Requests per minute the key may make (none: no limit)."
    )
    max_spend: str | None = Field(
        default=None, description='Estimated spending allowed per spend_period ("5 USD").'
    )
    spend_period: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="The calendar period (UTC) max_spend applies to."
    )
    callback_url: str | None = Field(
        default=None, description="Where this caller's videos are POSTed when they end."
    )


class ServerSettings(BaseModel):
    """Settings of `videoprovider serve` (environment: VIDEOPROVIDER_SERVER_<NAME>)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on.")
    database: str | None = Field(
        default=None,
        description="The gateway's own database (videos, caller keys, idempotency keys, "
        "callbacks): an SQLite file path or postgresql://...; default: gateway.sqlite3 in "
        "the user data dir.",
    )
    storage: str | None = Field(
        default=None,
        description="Where the finished videos are kept: a folder, or an fsspec URL "
        "(s3://bucket/prefix, memory://, file://); default: videos/ in the user data dir.",
    )
    retention_hours: float = Field(
        default=24.0 * 7, gt=0, description="How long a stored video is kept, hours."
    )
    max_body_bytes: int = Field(
        default=25 * 1024**2, gt=0, description="Largest request body accepted, bytes."
    )
    max_upload_bytes: int = Field(
        default=20 * 1024**2, gt=0, description="Largest input_reference upload, bytes."
    )
    poll_after_ms: int = Field(
        default=2000,
        ge=0,
        description="The openai-poll-after-ms header: how long the openai clients' poll "
        "helpers wait between two looks at a video.",
        json_schema_extra=_HARMLESS,
    )
    default_model: str = Field(
        default="fake/fake-1",
        description='The model used when a request names none ("provider/model" or an alias).',
        json_schema_extra=_HARMLESS,
    )
    models: dict[str, str] = Field(
        default_factory=dict,
        description='Aliases: [server.models] "my-video" = "dashscope/wan2.6-t2v".',
    )
    lease_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long a gateway process holds a video or callback it follows; "
        "another process sharing the store takes over once it runs out.",
    )
    callback_secret: SecretStr | None = Field(
        default=None,
        description='The Standard Webhooks secret callbacks are signed with ("whsec_<base64>"); '
        "unset: no callbacks.",
    )
    callback_allow_private: bool = Field(
        default=False,
        description="Deliver callbacks to loopback and private addresses too (your own "
        "network); off, they are refused like such downloads.",
    )
    callback_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Deliveries tried per callback before giving up."
    )
    keys: tuple[KeySettings, ...] = Field(
        default=(), description="Caller keys kept in the config ([[server.keys]])."
    )

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str | None) -> str | None:
        if v is not None and redact_userinfo(v) != v:
            # The URL is logged and kept with every video: credentials come from the
            # environment or the AWS config files instead (docs/gateway.md, "Storage").
            raise ValueError(
                "a storage URL may not hold credentials (user:secret@); set them in the "
                "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or ~/.aws instead"
            )
        return v

    @field_validator("models")
    @classmethod
    def _aliases(cls, v: dict[str, str]) -> dict[str, str]:
        for alias, target in v.items():
            if not _MODEL_REF.match(target):
                raise ValueError(
                    f'alias {alias!r} must map to "provider/model", e.g. "fake/fake-1", '
                    f"got {target!r}"
                )
        return v

    def database_url(self) -> str:
        return self.database or str(_data_dir() / "gateway.sqlite3")

    def storage_location(self) -> str:
        """The folder path or fsspec URL videos are kept at."""
        return self.storage or str(_data_dir() / "videos")

    def spool_path(self) -> Path:
        """The local folder uploads and downloads pass through when storage is a URL."""
        return _data_dir() / "spool"


def _data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("videoprovider"))


def server_settings(
    config: Config, args: dict[str, Any] | None = None, *, trusted: bool = True
) -> ServerSettings:
    """Resolve the `[server]` section of `config`: arguments, then the environment
    (VIDEOPROVIDER_SERVER_<NAME>), then the file.

    A file that is not `trusted` (found in the working directory, not named by the user)
    may set only the settings marked harmless.
    """
    section: dict[str, Any] = dict(config.sections.get(SECTION, {}))
    if not trusted:
        refused = sorted(
            name
            for name in section
            if name in ServerSettings.model_fields
            and (ServerSettings.model_fields[name].json_schema_extra or {}) != _HARMLESS
        )
        if refused:
            raise ConfigurationError(
                f"{config.file} sets server.{refused[0]}, which decides who may call the "
                "gateway or where its data goes; a config file found in the working directory "
                "may not do that.",
                hint=f"Name the file explicitly: videoprovider serve --config {config.file}.",
            )
    values: dict[str, Any] = {}
    for name in ServerSettings.model_fields:
        variable = f"{ENV_PREFIX}{name.upper()}"
        if (args or {}).get(name) is not None:
            values[name] = (args or {})[name]
        elif config.environ.get(variable, "") != "":
            values[name] = config.environ[variable]
        elif name in section:
            values[name] = section[name]
    unknown = sorted(set(section) - set(ServerSettings.model_fields))
    if unknown:
        raise ConfigurationError(
            f"Unknown setting server.{unknown[0]} in {config.file}. Valid settings: "
            f"{', '.join(ServerSettings.model_fields)}."
        )
    try:
        return ServerSettings.model_validate(values)
    except ValidationError as exc:
        # pydantic's messages, without the input: a value may be a secret.
        problems = "; ".join(
            f"server.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(
            f"Invalid [server] settings: {problems}.",
            hint=f"Fix them in {config.file} or in the {ENV_PREFIX}* environment.",
        ) from None
