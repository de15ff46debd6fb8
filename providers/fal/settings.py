"""The `[fal]` settings: key, queue origin, default endpoint, schemas, webhooks, priority."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

DEFAULT_BASE_URL = "https://queue.fal.run"
# Wan 2.5 on fal: the same model family as the DashScope and Replicate defaults, so a user
# comparing providers compares like with like; one text-to-video endpoint, no sub-path
# choices to explain (docs/providers/fal.md, "Default endpoint").
DEFAULT_MODEL = "fal-ai/wan-25-preview/text-to-video"
# Each endpoint's OpenAPI document: <schema_url>?endpoint_id=<id> [schemas]. Public: no key.
DEFAULT_SCHEMA_URL = "https://fal.ai/api/openapi/queue/openapi.json"
# The ED25519 keys webhook deliveries are signed with [webhooks].
DEFAULT_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
HARMLESS: dict[str, Any] = {"untrusted_file": "allow"}


def https_or_loopback(field: str, url: str, example: str, why: str) -> str:
    """`url` stripped (no trailing slash); refuses all but https, or http to loopback."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an http(s) URL such as {example}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{field} must use https: {why} (plain http is accepted only for "
            "127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.strip().rstrip("/")


class FalSettings(ProviderSettings):
    """Settings of the fal provider (`[fal]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        "api_key": ("FAL_KEY",),
        "base_url": ("FAL_BASE_URL",),
    }

    api_key: SecretStr = Field(description="fal API key, sent as `Authorization: Key ...`.")
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="The queue's origin; the key is sent nowhere else.",
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Default endpoint id, e.g. fal-ai/kling-video/v2.1/master/text-to-video.",
        json_schema_extra=HARMLESS,
    )
    schema_url: str = Field(
        default=DEFAULT_SCHEMA_URL,
        description="Where endpoints' OpenAPI input schemas are read (without the key).",
    )
    schema_cache_dir: str | None = Field(
        default=None,
        description="Where input schemas are cached; default: the user cache dir. An empty "
        "string keeps them in memory only.",
    )
    schema_ttl: float = Field(
        default=86400.0,
        ge=0,
        description="Seconds a cached endpoint schema stays fresh.",
        json_schema_extra=HARMLESS,
    )
    priority: Literal["normal", "low"] | None = Field(
        default=None,
        description="Queue priority (`X-Fal-Queue-Priority`): normal or low; unset: fal's.",
        json_schema_extra=HARMLESS,
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Connect timeout, seconds.", json_schema_extra=HARMLESS
    )
    read_timeout: float = Field(
        default=60.0, gt=0, description="Read timeout, seconds.", json_schema_extra=HARMLESS
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a poll, result read, cancel or schema read.",
        json_schema_extra=HARMLESS,
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a submit that provably never reached the server (or got 429).",
        json_schema_extra=HARMLESS,
    )
    webhook_url: str | None = Field(
        default=None,
        description="The host's public HTTPS endpoint fal POSTs results to (`fal_webhook`); "
        "unset: polling only.",
    )
    jwks_url: str = Field(
        default=DEFAULT_JWKS_URL,
        description="The JWKS document of the ED25519 keys fal signs webhook deliveries with.",
    )
    jwks_refresh: float = Field(
        default=3600.0,
        ge=60,
        le=86400,
        description="Seconds the webhook keys are kept before they are fetched again.",
        json_schema_extra=HARMLESS,
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("api_key is empty; set FAL_KEY")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        url = https_or_loopback(
            "base_url", v, DEFAULT_BASE_URL, "the API key would travel in clear text"
        )
        parts = urlsplit(url)
        if parts.query or parts.fragment or parts.username:
            raise ValueError(f"base_url must be a bare origin such as {DEFAULT_BASE_URL}")
        return url

    @field_validator("schema_url")
    @classmethod
    def _schema_url(cls, v: str) -> str:
        why = "a schema read in clear text could be altered on the way"
        return https_or_loopback("schema_url", v, DEFAULT_SCHEMA_URL, why)

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, v: str) -> str:
        why = "keys read in clear text could be replaced, and forged deliveries accepted"
        return https_or_loopback("jwks_url", v, DEFAULT_JWKS_URL, why)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        why = "fal would send results to it in clear text"
        return https_or_loopback("webhook_url", v, "https://example.com/fal-hook", why)
