"""The `[replicate]` settings: token, where to send requests, default model, timeouts, webhooks."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

from .webhooks import WebhookVerificationError, signing_key

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
# An official model (run by name, priced per second of video, kept current by Replicate) of
# the same Wan family as the DashScope provider's default, so results compare across the two.
DEFAULT_MODEL = "wan-video/wan-2.5-t2v"
# The values of a create call's `webhook_events_filter` [webhooks].
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


def _https_or_loopback(field: str, url: str, example: str, why: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{field} must be an http(s) URL such as {example}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            f"{field} must use https: {why} (plain http is accepted only for "
            "127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.strip()


def check_base_url(url: str) -> str:
    """`url` without a trailing slash; refuses anything but https, or http to loopback."""
    why = "the API token would travel in clear text"
    return _https_or_loopback("base_url", url, DEFAULT_BASE_URL, why).rstrip("/")


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
    connect_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Connect timeout, seconds.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    read_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Read timeout, seconds.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a poll, cancel or schema read.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a submit that provably never reached the server (or got 429).",
        json_schema_extra={"untrusted_file": "allow"},
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
        json_schema_extra={"untrusted_file": "allow"},
    )
    webhook_url: str | None = Field(
        default=None,
        description="The host's public HTTPS endpoint Replicate POSTs prediction updates to "
        "(sent as `webhook`); unset: polling only.",
    )
    webhook_events: tuple[str, ...] = Field(
        default=("completed",),
        description="When Replicate calls webhook_url (`webhook_events_filter`): any of "
        "start, output, logs, completed; comma-separated in the environment.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The whsec_... key deliveries are signed with (kept secret); unset: "
        "fetched once from GET /webhooks/default/secret.",
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

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        why = "Replicate would send prediction data to it in clear text"
        return _https_or_loopback("webhook_url", v, "https://example.com/replicate-hook", why)

    @field_validator("webhook_events", mode="before")
    @classmethod
    def _webhook_events(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [part.strip() for part in v.split(",") if part.strip()]
        if not isinstance(v, (list, tuple)) or not v:
            raise ValueError(
                f"webhook_events must list one or more of {', '.join(WEBHOOK_EVENTS)}, got {v!r}"
            )
        unknown = [e for e in v if e not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(
                f"webhook_events: {', '.join(map(repr, unknown))} is not a Replicate webhook "
                f"event; use any of {', '.join(WEBHOOK_EVENTS)}"
            )
        return tuple(dict.fromkeys(v))

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        try:
            signing_key(v.get_secret_value().strip())
        except WebhookVerificationError:
            raise ValueError(
                "webhook_secret must be whsec_ followed by base64, as GET "
                "/v1/webhooks/default/secret returns it; or leave it unset to fetch it"
            ) from None
        return SecretStr(v.get_secret_value().strip())
