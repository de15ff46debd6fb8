"""Verifying Replicate's webhook signatures (the Standard Webhooks scheme), ready for a caller.

Replicate signs `"{webhook-id}.{webhook-timestamp}.{raw body}"` with HMAC-SHA256 under the
account's secret (`whsec_` + base64, from `GET /webhooks/default/secret`) and sends
`webhook-signature: v1,<base64> [v1,<base64> ...]` [verify-webhook]. The maintained
`standardwebhooks` package does the same but reads the wall clock itself, decodes the body as
text and pulls in six dependencies; these few lines take `now` from the caller instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

__all__ = [
    "TOLERANCE_SECONDS",
    "WebhookVerificationError",
    "check_headers",
    "signature",
    "signing_key",
    "verify_webhook",
]

# The replay window Replicate and the Standard Webhooks libraries use.
TOLERANCE_SECONDS = 5 * 60
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class WebhookVerificationError(ValueError):
    """The delivery is not provably from Replicate: reject it, do not process it.

    `http_status` is the answer for the sender: 400 when the webhook headers are missing or
    unreadable (a malformed request), 401 when the signature or its age is wrong.
    """

    def __init__(self, message: str, http_status: int = 401) -> None:
        super().__init__(message)
        self.http_status = http_status


def signing_key(secret: str) -> bytes:
    """The HMAC key in a `whsec_<base64>` secret; WebhookVerificationError if it is not one."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "the signing secret is not whsec_ followed by base64"
        ) from None
    if not key:
        raise WebhookVerificationError("the signing secret is empty")
    return key


def signature(key: bytes, msg_id: str, stamp: str, body: bytes) -> bytes:
    """The raw HMAC-SHA256 Replicate sends (base64, after `v1,`) for one delivery."""
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def check_headers(
    headers: Mapping[str, str], *, now: float, tolerance: float = TOLERANCE_SECONDS
) -> tuple[str, str, str]:
    """The delivery's (id, timestamp, signatures) when they are present and the timestamp is
    fresh; WebhookVerificationError otherwise. Needs no secret: a delivery that fails here
    costs nothing, not even the fetch of the signing secret."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header", 400
        )
    # ASCII digits only, at most 12 (past the year 33000): int() would also take "+1",
    # "1_0", non-ASCII digits and a 400-digit number whose arithmetic with a float overflows.
    if not _UNIX_SECONDS.fullmatch(stamp):
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds", 400)
    sent = int(stamp)
    if abs(now - sent) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {now - sent:+.0f} s from now, outside ±{tolerance:.0f} s "
            "(a replay, or this machine's clock is wrong)"
        )
    return msg_id, stamp, signatures


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """Raise WebhookVerificationError unless `body` carries a valid, fresh Replicate signature.

    `body` is the raw request body (before any JSON parsing), `headers` the request's
    headers (any case), `secret` the `whsec_...` signing secret and `now` the current Unix
    time in seconds. The error message never contains the secret.
    """
    msg_id, stamp, signatures = check_headers(headers, now=now, tolerance=tolerance)
    expected = signature(signing_key(secret), msg_id, stamp, body)
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise WebhookVerificationError("no webhook-signature matches the body")
