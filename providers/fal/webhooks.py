"""Verifying fal's webhook deliveries: ED25519 signatures, keys from a JWKS document.

fal signs `"{request id}\\n{user id}\\n{timestamp}\\n{hex sha256 of the raw body}"` with an
ED25519 key and sends the hex signature in `X-Fal-Webhook-Signature`, beside
`X-Fal-Webhook-Request-Id`, `-User-Id` and `-Timestamp` (Unix seconds); receivers refuse
timestamps more than five minutes away and try every key of the JWKS document [webhooks].
`cryptography` does the signature math; this module only lays out the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TOLERANCE_SECONDS = 5 * 60
HEADERS = (
    "x-fal-webhook-request-id",
    "x-fal-webhook-user-id",
    "x-fal-webhook-timestamp",
    "x-fal-webhook-signature",
)


class WebhookVerificationError(ValueError):
    """The delivery is not provably from fal: 400 when malformed, 401 when not signed."""

    def __init__(self, message: str, http_status: int = 401) -> None:
        super().__init__(message)
        self.http_status = http_status


class NoKeySigned(WebhookVerificationError):
    """No key at hand verifies the signature: forged, or signed by a key fetched since."""


def keys_from_jwks(doc: Any) -> list[Ed25519PublicKey]:
    """The ED25519 keys (`kty` OKP, `crv` Ed25519, base64url `x`) of a JWKS document."""
    found: list[Ed25519PublicKey] = []
    entries = doc.get("keys") if isinstance(doc, dict) else None
    for jwk in entries if isinstance(entries, list) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        x = jwk.get("x")
        if not isinstance(x, str):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            found.append(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            continue
    return found


def message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal signs for one delivery."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((request_id, user_id, timestamp, digest)).encode()


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    keys: Sequence[Ed25519PublicKey],
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """The delivery's request id; WebhookVerificationError unless one of `keys` signed
    `body` and its headers within `tolerance` seconds of `now` (Unix seconds)."""
    lower = {k.lower(): v for k, v in headers.items()}
    request_id, user_id, stamp, signature = (lower.get(name, "").strip() for name in HEADERS)
    if not (request_id and user_id and stamp and signature):
        raise WebhookVerificationError(f"missing one of the {', '.join(HEADERS)} headers", 400)
    try:
        sent = int(stamp)
        raw = bytes.fromhex(signature)
    except ValueError:
        raise WebhookVerificationError(
            "X-Fal-Webhook-Timestamp is not Unix seconds or the signature is not hex", 400
        ) from None
    if abs(now - sent) > tolerance:
        raise WebhookVerificationError(
            f"X-Fal-Webhook-Timestamp is {now - sent:+.0f} s from now, outside "
            f"±{tolerance:.0f} s (a replay, or this machine's clock is wrong)"
        )
    signed = message(request_id, user_id, stamp, body)
    for key in keys:
        try:
            key.verify(raw, signed)
            return request_id
        except InvalidSignature:
            continue
    raise NoKeySigned("no key of fal's JWKS document signed this delivery")
