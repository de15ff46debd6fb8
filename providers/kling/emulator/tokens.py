"""The emulator's check of a request token, as Kling answers it [common-info].

A bearer that is one of the emulator's API keys passes as it is [authentication]; anything
else must be a JWT of one of its key pairs.
1001: no Authorization; 1002: not a valid token (malformed, bad signature, no such issuer);
1003: not valid yet (`nbf` ahead of the emulator's clock); 1004: expired (`exp` passed).
PyJWT checks the signature; the times are checked against the emulator's clock, which may
be virtual, so tests can age a token without sleeping.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping

import jwt


def check_token(
    authorization: str, keys: Mapping[str, str], now: float, api_keys: Collection[str] = ()
) -> tuple[int, str] | None:
    """None for a good token; else Kling's (code, message) for the refusal."""
    if not authorization.strip():
        return 1001, "Authorization is empty"
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or not token.strip():
        return 1002, "Authorization is invalid"
    if any(hmac.compare_digest(token.strip().encode(), key.encode()) for key in api_keys):
        return None
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
        issuer = claims.get("iss")
        secret = keys.get(issuer) if isinstance(issuer, str) else None
        if secret is None:
            return 1002, "Authorization is invalid: unknown access key"
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False, "require": ["iss", "exp", "nbf"]},
        )
    except jwt.InvalidTokenError:
        return 1002, "Authorization is invalid"
    if not isinstance(claims.get("nbf"), (int, float)) or not isinstance(
        claims.get("exp"), (int, float)
    ):
        return 1002, "Authorization is invalid: nbf and exp must be numbers"
    if now < claims["nbf"]:
        return 1003, "Authorization is not yet valid"
    if now >= claims["exp"]:
        return 1004, "Authorization has expired"
    return None
