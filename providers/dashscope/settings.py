"""The `[dashscope]` settings: key, where to send requests, defaults, timeouts.

Base URLs are normalised to `https://host/api/v1`, the native DashScope surface that serves
video. The OpenAI-compatible `/compatible-mode/v1` surface does not serve video, and a path
pasted from a request URL would produce a wrong route; both are corrected with one warning
rather than sent somewhere that fails obscurely [protocol notes §2, §11].
"""

from __future__ import annotations

import re
import warnings
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from videoprovider.apiclient import is_loopback
from videoprovider.provider import ProviderSettings

API_PATH = "/api/v1"
# The workspace id becomes the first label of a hostname: one DNS label, nothing more.
WORKSPACE_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}")
# What EventBridge HTTP targets send their configured Token in (docs/providers/dashscope.md).
EVENTS_TOKEN_HEADER = "x-eventbridge-signature-token"
MIN_EVENTS_TOKEN = 16  # a guessable token would let anyone make the client spend requests

# [protocol notes §2] DOC t2v reference; the workspace (MaaS) domains are the recommended
# ones and replace dashscope-intl for wan2.7.
REGIONS: dict[str, str] = {
    "singapore": "https://dashscope-intl.aliyuncs.com",
    "virginia": "https://dashscope-us.aliyuncs.com",
    "beijing": "https://dashscope.aliyuncs.com",
    "singapore-workspace": "https://{workspace_id}.ap-southeast-1.maas.aliyuncs.com",
    "beijing-workspace": "https://{workspace_id}.cn-beijing.maas.aliyuncs.com",
    "hongkong-workspace": "https://{workspace_id}.cn-hongkong.maas.aliyuncs.com",
    "virginia-workspace": "https://{workspace_id}.us-east-1.maas.aliyuncs.com",
    "frankfurt-workspace": "https://{workspace_id}.eu-central-1.maas.aliyuncs.com",
}
# Host → the region whose models it serves (catalog.regions_serving); the legacy hosts and the
# workspace domains' region ids [DOC regions and endpoints; SDK v2/_config.py].
_HOST_REGIONS = {
    "dashscope-intl.aliyuncs.com": "singapore",
    "dashscope-us.aliyuncs.com": "virginia",
    "dashscope.aliyuncs.com": "beijing",
    "cn-hongkong.dashscope.aliyuncs.com": "hongkong",
    "ap-southeast-1": "singapore",
    "us-east-1": "virginia",
    "cn-beijing": "beijing",
    "cn-hongkong": "hongkong",
    "eu-central-1": "frankfurt",
}
Region = Literal[
    "singapore",
    "virginia",
    "beijing",
    "singapore-workspace",
    "beijing-workspace",
    "hongkong-workspace",
    "virginia-workspace",
    "frankfurt-workspace",
]


class BaseURLWarning(UserWarning):
    """A configured base URL was corrected to the native `/api/v1` surface."""


def normalise_base_url(url: str, *, warn: bool = True) -> str:
    """`https://host/api/v1` for any URL on `host`; warn when the path had to change."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must be an http(s) URL such as https://host/api/v1, got {url!r}"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise ValueError(
            "base_url must use https: the API key would travel in clear text (plain http is "
            "accepted only for 127.0.0.1/localhost, e.g. the emulator)"
        )
    path = parts.path.rstrip("/")
    fixed = f"{parts.scheme}://{parts.netloc}{API_PATH}"
    if path not in ("", API_PATH) and warn:
        why = (
            "the OpenAI-compatible surface, which does not serve video"
            if "compatible-mode" in path
            else "a path that is not the API root"
        )
        warnings.warn(
            f"DashScope base_url {parts.scheme}://{parts.netloc}{path} is {why}; "
            f"using {fixed} instead.",
            BaseURLWarning,
            stacklevel=2,
        )
    return fixed


class DashScopeSettings(ProviderSettings):
    """Settings of the DashScope provider (`[dashscope]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        # WANAI_* are what users of hand-written clients bring with them.
        "api_key": ("DASHSCOPE_API_KEY", "WANAI_API_KEY"),
        "base_url": ("DASHSCOPE_BASE_URL", "DASHSCOPE_HTTP_BASE_URL", "WANAI_BASE_URL"),
        "workspace_id": ("DASHSCOPE_WORKSPACE",),
        "region": ("DASHSCOPE_REGION",),
        "model": ("WANAI_VERSION",),
    }

    api_key: SecretStr = Field(description="Model Studio API key (kept secret).")
    region: Region = Field(
        default="singapore",
        description="singapore, virginia, beijing, or a *-workspace domain (singapore, "
        "beijing, hongkong, virginia, frankfurt; needs workspace_id). The key must belong to "
        "this region.",
    )
    base_url: str | None = Field(
        default=None, description="Explicit API root; overrides region. Normalised to /api/v1."
    )
    workspace_id: str | None = Field(
        default=None, description="Workspace id: sent as X-DashScope-WorkSpace."
    )
    model: str | None = Field(
        default=None,
        description="Default model (else wan2.6-t2v; wan2.6-i2v with an image, "
        "wan2.6-r2v-flash with reference_urls).",
        json_schema_extra={"untrusted_file": "allow"},
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
        description="Retries of a status poll (429, 5xx, network).",
        json_schema_extra={"untrusted_file": "allow"},
    )
    submit_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a submit that provably never reached the server (or got 429).",
        json_schema_extra={"untrusted_file": "allow"},
    )
    truncate_prompt: bool = Field(
        default=False,
        description="Cut an over-long prompt to the model's limit (with a warning) instead of "
        "refusing it.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    events_token: SecretStr | None = Field(
        default=None,
        description="Turns on completion events (EventBridge): the token the HTTP target "
        "sends in events_header; a delivery without it is refused (kept secret).",
    )
    events_header: str = Field(
        default=EVENTS_TOKEN_HEADER,
        description="The header that carries events_token (the HTTP target's Token field "
        "arrives as x-eventbridge-signature-token; an API destination's API key under the "
        "name you gave it).",
    )
    events_account_id: str | None = Field(
        default=None,
        description="Your Alibaba Cloud account id: events of other accounts are refused.",
    )
    events_url: str | None = Field(
        default=None,
        description="The exact URL of your EventBridge HTTP target: with it, EventBridge's "
        "RSA signature on each event is checked too (needs the cryptography package).",
    )
    events_ca_file: str | None = Field(
        default=None,
        description="A PEM file of the CA certificates EventBridge's signing certificate "
        "must chain to (with events_url); unset: the system's CA bundle.",
    )

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("api_key is empty; set DASHSCOPE_API_KEY")
        return v

    @field_validator("events_token")
    @classmethod
    def _events_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value().strip()) < MIN_EVENTS_TOKEN:
            raise ValueError(
                f"events_token must be at least {MIN_EVENTS_TOKEN} characters (a random one, "
                "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`), "
                "and the same as the Token of the EventBridge HTTP target"
            )
        return None if v is None else SecretStr(v.get_secret_value().strip())

    @field_validator("events_header")
    @classmethod
    def _events_header(cls, v: str) -> str:
        if not HEADER_NAME.fullmatch(v):
            raise ValueError(
                "events_header must be an HTTP header name (letters, digits, hyphens), "
                f"such as {EVENTS_TOKEN_HEADER}"
            )
        return v.lower()

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, v: str | None) -> str | None:
        if v is not None:
            parts = urlsplit(v)
            if parts.scheme != "https" or not parts.netloc or parts.fragment:
                raise ValueError(
                    "events_url must be the https URL your EventBridge HTTP target posts to, "
                    "exactly as entered in the console (it is part of what EventBridge signs)"
                )
        return v

    @field_validator("workspace_id")
    @classmethod
    def _workspace_id(cls, v: str | None) -> str | None:
        if v is not None and not WORKSPACE_ID.fullmatch(v):
            raise ValueError(
                "workspace_id must be letters, digits and inner hyphens, at most 63 "
                "characters (it becomes part of the hostname); copy it from the Model Studio "
                "console"
            )
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is not None:
            normalise_base_url(v, warn=False)  # refuse a malformed or clear-text URL early
        return v

    @model_validator(mode="after")
    def _events(self) -> DashScopeSettings:
        if self.events_url is not None and self.events_token is None:
            raise ValueError(
                "events_url needs events_token: EventBridge signs events for any account's "
                "rule, and the token (part of what it signs) is what makes them yours"
            )
        return self

    @model_validator(mode="after")
    def _workspace(self) -> DashScopeSettings:
        needs_workspace = "{workspace_id}" in REGIONS[self.region]
        if self.base_url is None and needs_workspace and not self.workspace_id:
            raise ValueError(
                f"region {self.region} needs workspace_id (DASHSCOPE_WORKSPACE); or pick "
                "singapore, virginia or beijing"
            )
        return self

    def serving_region(self) -> str | None:
        """The region whose model list applies (None for a host we cannot place, such as the
        emulator on 127.0.0.1)."""
        host = urlsplit(self.api_root()).hostname or ""
        if host in _HOST_REGIONS:
            return _HOST_REGIONS[host]
        if host.endswith(".maas.aliyuncs.com"):
            return _HOST_REGIONS.get(host.split(".")[-4])
        return None

    def api_root(self) -> str:
        """The normalised `https://host/api/v1` requests go to."""
        if self.base_url:
            return normalise_base_url(self.base_url)
        return REGIONS[self.region].format(workspace_id=self.workspace_id) + API_PATH
