"""The `[kling]` settings: the credentials (an API key, or the older access key pair), where
requests go, the default model."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.config import JsonDict

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

# The international endpoint, for servers outside mainland China [common-info]; the
# mainland one is https://api-beijing.klingai.com (docs/providers/kling.md).
DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
DEFAULT_MODEL = "kling-v2-6"
# Harmless for a config file found in the working directory to set (docs/configuration.md).
_UNTRUSTED_OK: JsonDict = {"untrusted_file": "allow"}


def _https_or_loopback(field: str, url: str, why: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an http(s) URL such as {DEFAULT_BASE_URL}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{field} must use https: {why} (plain http is accepted only for "
            "127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.strip().rstrip("/")


class KlingSettings(ProviderSettings):
    """Settings of the Kling provider (`[kling]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        "api_key": ("KLING_API_KEY",),
        "access_key": ("KLING_ACCESS_KEY",),
        "secret_key": ("KLING_SECRET_KEY",),
        "base_url": ("KLING_BASE_URL",),
    }

    api_key: SecretStr | None = Field(
        default=None,
        description="A Kling API key, sent as the bearer token (the docs' current way; it "
        "wins over the key pair when both are set).",
    )
    access_key: SecretStr | None = Field(
        default=None,
        description="The access key (AK) of a Kling key pair; the signed token's issuer.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="The secret key (SK) the request tokens are signed with (kept secret).",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="API root: https://api-singapore.klingai.com (international) or "
        "https://api-beijing.klingai.com (mainland China).",
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Default model_name, e.g. kling-v2-6 (see `videoprovider models`).",
        json_schema_extra=_UNTRUSTED_OK,
    )
    callback_url: str | None = Field(
        default=None,
        description="The host's public HTTPS endpoint Kling POSTs task changes to "
        "(sent as callback_url); unset: polling only.",
    )
    jwt_lifetime: int = Field(
        default=1800,
        ge=60,
        le=86400,
        description="Lifetime of each signed request token (the docs' example: 1800).",
        json_schema_extra=_UNTRUSTED_OK,
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Connect timeout, seconds.", json_schema_extra=_UNTRUSTED_OK
    )
    read_timeout: float = Field(
        default=60.0, gt=0, description="Read timeout, seconds.", json_schema_extra=_UNTRUSTED_OK
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a query outside the client's scheduler.",
        json_schema_extra=_UNTRUSTED_OK,
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a create Kling refused for its rate or concurrency limit, or "
        "that provably never reached it.",
        json_schema_extra=_UNTRUSTED_OK,
    )

    @field_validator("api_key", "access_key", "secret_key")
    @classmethod
    def _key(cls, v: SecretStr | None, info: object) -> SecretStr | None:
        name = getattr(info, "field_name", "key")
        if v is None:
            return None
        if not v.get_secret_value().strip():
            raise ValueError(f"{name} is empty; set KLING_{str(name).upper()}")
        return SecretStr(v.get_secret_value().strip())

    @model_validator(mode="after")
    def _credentials(self) -> KlingSettings:
        if self.api_key is not None:
            return self
        if self.access_key is None and self.secret_key is None:
            raise ValueError(
                "Kling needs credentials: set api_key (KLING_API_KEY), or the key pair "
                "access_key and secret_key (KLING_ACCESS_KEY, KLING_SECRET_KEY)"
            )
        missing = "secret_key" if self.secret_key is None else "access_key"
        if self.access_key is None or self.secret_key is None:
            raise ValueError(
                f"{missing} is missing: the key pair needs both access_key and secret_key "
                f"(set KLING_{missing.upper()}), or set api_key (KLING_API_KEY) instead"
            )
        return self

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return _https_or_loopback("base_url", v, "the signed tokens would travel in clear text")

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        why = "Kling would send task data to it in clear text"
        return _https_or_loopback("callback_url", v, why)
