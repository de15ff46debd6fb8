"""The gateway's callers: their keys (kept hashed), what each may use, and its request rate.

A key is 32 random bytes, so one SHA-256 of it is as hard to reverse as the key is to guess;
a slow password hash would only make every request slower. Keys come from the config file
(`[[server.keys]]`, hashes only) and from the gateway's store (`videoprovider serve keys`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from ..clock import Clock
from ..spending import SpendCap
from .errors import ApiError
from .settings import ServerSettings
from .store import KeyRow, Store, now_ms

__all__ = ["ANONYMOUS", "Caller", "KeyRing", "RateLimiter", "hash_key", "new_key"]

PREFIX = "vpk-"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is calling, and what they may do."""

    name: str
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    rate_per_minute: int | None = None
    max_spend: str | None = None
    spend_period: Literal["hour", "day", "week", "month"] = "day"
    callback_url: str | None = None

    def spend_cap(self) -> SpendCap | None:
        if self.max_spend is None:
            return None
        return SpendCap.parse(self.max_spend, self.spend_period)

    def check_model(self, provider: str, model: str, asked: str) -> None:
        """Refuse a provider or model the key is not allowed, before anything is sent."""
        if self.providers and provider not in self.providers:
            raise ApiError(
                403,
                f"This key may not use provider {provider!r}; it may use: "
                f"{', '.join(self.providers)}.",
                type="permission_error",
                param="model",
                code="model_not_allowed",
                retry=False,
            )
        if self.models and not {asked, f"{provider}/{model}"} & set(self.models):
            raise ApiError(
                403,
                f"This key may not use model {asked!r}; it may use: {', '.join(self.models)}.",
                type="permission_error",
                param="model",
                code="model_not_allowed",
                retry=False,
            )


# When no key is configured (only allowed on a loopback address) everyone is this caller.
ANONYMOUS = Caller(name="anonymous")


class KeyRing:
    """Finds the caller a bearer key belongs to."""

    def __init__(self, settings: ServerSettings, store: Store) -> None:
        self._settings = settings
        self._store = store

    def _active(self) -> list[tuple[str, Caller]]:
        found = [
            (
                k.hash,
                Caller(
                    k.name,
                    k.providers,
                    k.models,
                    k.rate_per_minute,
                    k.max_spend,
                    k.spend_period,
                    k.callback_url,
                ),
            )
            for k in self._settings.keys
        ]
        found += [(k.hash, _caller(k)) for k in self._store.key_rows() if k.revoked_ms is None]
        return found

    def any_configured(self) -> bool:
        """Whether a key was ever made: revoking the last one must not open the gateway."""
        return bool(self._settings.keys) or bool(self._store.key_rows())

    def caller(self, authorization: str | None) -> Caller:
        if not self.any_configured():
            return ANONYMOUS
        keys = self._active()
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "Missing key: send Authorization: Bearer <key> (the openai clients send "
                "their api_key that way).",
                code="missing_api_key",
                retry=False,
            )
        digest = hash_key(token.strip())
        for stored, caller in keys:
            if hmac.compare_digest(stored, digest):
                return caller
        raise ApiError(
            401,
            "Incorrect key provided. Ask the gateway's operator for a key "
            "(videoprovider serve keys create).",
            code="invalid_api_key",
            retry=False,
        )


def _caller(row: KeyRow) -> Caller:
    period = cast(Literal["hour", "day", "week", "month"], row.spend_period)
    return Caller(row.name, row.providers, row.models, row.rate_per_minute, row.max_spend, period)


class RateLimiter:
    """A token bucket per caller, kept in the store: `rate_per_minute` requests a minute, up
    to that many at once, for every process on the store together.

    Timed by the injected clock's wall time, the one thing processes on several machines
    agree on (each process's monotonic clock starts where it likes)."""

    def __init__(self, clock: Clock, store: Store) -> None:
        self.clock = clock
        self.store = store

    def take(self, caller: Caller) -> None:
        rate = caller.rate_per_minute
        if rate is None:
            return
        held = self.store.take_token(caller.name, rate, now_ms(self.clock))
        if held is None:
            return
        wait = (1 - held) * 60 / rate
        raise ApiError(
            429,
            f"Rate limit of {rate} requests per minute reached for key {caller.name!r}; "
            f"retry in {wait:.1f} s.",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            retry_after=wait,
        )


def key_row(name: str, key: str, now: datetime, **limits: object) -> KeyRow:
    return KeyRow(
        name=name,
        hash=hash_key(key),
        providers=tuple(cast(tuple[str, ...], limits.get("providers", ()))),
        models=tuple(cast(tuple[str, ...], limits.get("models", ()))),
        rate_per_minute=cast("int | None", limits.get("rate_per_minute")),
        max_spend=cast("str | None", limits.get("max_spend")),
        spend_period=cast(str, limits.get("spend_period", "day")),
        created_ms=int(now.timestamp() * 1000),
    )
