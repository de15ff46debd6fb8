"""The request's bearer token: an API key as it is, or a JWT the client signs with its
secret key and renews before it ends.

Kling's docs now offer an API key, sent as `Authorization: Bearer <API key>`, beside the
older key pair [authentication]. With the pair, every request carries a JWT HS256-signed
with the secret key, `iss` the access key, `exp` the end of its validity and `nbf` a few
seconds in the past for clocks that disagree [common-info]. PyJWT makes and checks the
token, so no module here implements the signature scheme.
"""

from __future__ import annotations

import warnings

import jwt
from pydantic import SecretStr

from videoprovider.clock import Clock

__all__ = ["ApiKey", "TokenSigner", "bearer"]

NOT_BEFORE_SKEW = 5  # seconds, as the docs' example
# A token this close to its end is renewed: a request signed just before `exp` may arrive
# after it (queues, retries, a slow network).
RENEW_MARGIN = 300


class ApiKey:
    """An API key, sent as the bearer token of every request."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ApiKey(**********)"

    def authorization(self) -> str:
        return f"Bearer {self._key.get_secret_value()}"


class TokenSigner:
    """Signs tokens on demand and reuses one until it nears its end (time from `clock`)."""

    def __init__(
        self, access_key: SecretStr, secret_key: SecretStr, clock: Clock, lifetime: int = 1800
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock
        self._lifetime = lifetime
        self._token: str | None = None
        self._expires = 0

    def __repr__(self) -> str:
        return f"TokenSigner(lifetime={self._lifetime})"

    def token(self) -> str:
        now = int(self._clock.now().timestamp())
        if self._token is None or now >= self._expires - min(RENEW_MARGIN, self._lifetime // 4):
            self._expires = now + self._lifetime
            claims = {
                "iss": self._access_key.get_secret_value(),
                "exp": self._expires,
                "nbf": now - NOT_BEFORE_SKEW,
            }
            with warnings.catch_warnings():
                # Kling issues the secret key: its length is not the user's to choose, so
                # PyJWT's advice about short HMAC keys would only be noise on every run.
                warnings.filterwarnings("ignore", message=".*HMAC key.*")
                self._token = jwt.encode(
                    claims,
                    self._secret_key.get_secret_value(),
                    algorithm="HS256",
                    headers={"typ": "JWT"},
                )
        return self._token

    def authorization(self) -> str:
        return f"Bearer {self.token()}"


def bearer(
    api_key: SecretStr | None,
    access_key: SecretStr | None,
    secret_key: SecretStr | None,
    clock: Clock,
    lifetime: int,
) -> ApiKey | TokenSigner:
    """What authorises the requests: the API key when there is one, else the key pair."""
    if api_key is not None:
        return ApiKey(api_key)
    if access_key is None or secret_key is None:  # KlingSettings refuses this already
        raise ValueError("Kling needs api_key, or both access_key and secret_key")
    return TokenSigner(access_key, secret_key, clock, lifetime)
