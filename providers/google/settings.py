"""The `[google]` settings: API key, where requests go, default model, timeouts."""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, JsonValue, SecretStr, field_validator

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
# The model the official Veo guide's samples use (REST and SDK) [veo-guide]: the current
# full-quality Veo 3.1, serving every input this provider maps (first/last frame, references).
DEFAULT_MODEL = "veo-3.1-generate-preview"
# Harmless to take from a config file in the working directory (see COMMON conventions).
UNTRUSTED_OK: dict[str, JsonValue] = {"untrusted_file": "allow"}


def check_base_url(url: str) -> str:
    """`url` without a trailing slash; https only, or http to loopback (the emulator)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an https URL such as {DEFAULT_BASE_URL}, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            "base_url must use https: the API key would travel in clear text (plain http is "
            "accepted only for 127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.strip().rstrip("/")


class VeoSettings(ProviderSettings):
    """What the Gemini API and Vertex AI providers share: model, timeouts, retries."""

    model: str = Field(
        default=DEFAULT_MODEL,
        description="Default Veo model (see `videoprovider models google`).",
        json_schema_extra=UNTRUSTED_OK,
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Connect timeout, seconds.", json_schema_extra=UNTRUSTED_OK
    )
    read_timeout: float = Field(
        default=60.0, gt=0, description="Read timeout, seconds.", json_schema_extra=UNTRUSTED_OK
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a status poll (outside the client's scheduler).",
        json_schema_extra=UNTRUSTED_OK,
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a submit that provably never reached the server (or got 429).",
        json_schema_extra=UNTRUSTED_OK,
    )


class GoogleSettings(VeoSettings):
    """Settings of the Google Veo provider on the Gemini API (`[google]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        # The names the official SDK reads, GOOGLE_API_KEY winning when both are set there;
        # here the first one set wins, GEMINI_API_KEY first as the Gemini docs name it.
        "api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        "base_url": ("GEMINI_BASE_URL",),
        "webhook_secret": ("GEMINI_WEBHOOK_SECRET",),
    }

    api_key: SecretStr = Field(description="Gemini API key (kept secret).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root, https only.")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Signing secret (whsec_...) of the project's Gemini API webhook; set, "
        "signed deliveries end waits and polls become a slow safety net.",
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("api_key is empty; set GEMINI_API_KEY (aistudio.google.com/apikey)")
        return SecretStr(v.get_secret_value().strip())

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        secret = v.get_secret_value().strip()
        try:
            ok = secret.startswith("whsec_") and bool(base64.b64decode(secret[6:], validate=True))
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                "webhook_secret must be the whsec_... signing secret the Gemini API returned "
                "when the webhook was created (rotate it if it was lost)"
            )
        return SecretStr(secret)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return check_base_url(v)
