"""The `[replicate]` settings: token, where to send requests, default model, timeouts."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
# An official model (run by name, priced per second of video, kept current by Replicate) of
# the same Wan family as the DashScope provider's default, so results compare across the two.
DEFAULT_MODEL = "wan-video/wan-2.5-t2v"


def check_base_url(url: str) -> str:
    """`url` without a trailing slash; refuses anything but https, or http to loopback."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            "base_url must use https: the API token would travel in clear text (plain http is "
            "accepted only for 127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.strip().rstrip("/")


class ReplicateSettings(ProviderSettings):
    """Settings of the Replicate provider (`[replicate]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        "api_token": ("REPLICATE_API_TOKEN",),
        "base_url": ("REPLICATE_BASE_URL",),
    }

    api_token: SecretStr = Field(description="Replicate API token (kept secret).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, https only.")
    model: str = Field(
        default=DEFAULT_MODEL,
        description='Default model: "owner/name" (official) or "owner/name:version".',
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Connect timeout, seconds.")
    read_timeout: float = Field(default=60.0, gt=0, description="Read timeout, seconds.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a poll, cancel or schema read."
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a submit that provably never reached the server (or got 429).",
    )
    schema_cache_dir: str | None = Field(
        default=None,
        description="Where model input schemas are cached; default: the user cache dir. "
        "An empty string keeps them in memory only.",
    )
    schema_ttl: float = Field(
        default=86400.0,
        ge=0,
        description="Seconds a cached schema of an unpinned official model stays fresh.",
    )

    @field_validator("api_token")
    @classmethod
    def _token(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("api_token is empty; set REPLICATE_API_TOKEN")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return check_base_url(v)
