"""Gemini API webhook deliveries: their signature (Standard Webhooks) and the task they name.

A static (project-level) webhook, created with `POST /v1beta/webhooks`, gets a signing secret
once, at creation [webhooks-guide]; deliveries carry `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64> ...`, the HMAC-SHA256 of `"{id}.{timestamp}.{raw body}"`
under the base64 key after `whsec_` (the Standard Webhooks scheme) [webhooks-peers]. Per-request
(dynamic) webhooks are signed with an RS256 JWT instead and are not taken here.

The body's shape is not read from official text, so a delivery is used only as a *notice*:
it names the task (an operation name or an interaction, found as a whole string anywhere in
the verified JSON), and the client fetches that task's status once.

The HMAC is the standard library's: the `standardwebhooks` package computes the same thing
but reads the wall clock itself, where the provider's injected clock must decide staleness.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TOLERANCE_SECONDS", "Refused", "sign", "task_named", "verify"]

# The replay window of the Standard Webhooks libraries.
TOLERANCE_SECONDS = 5 * 60
_TASK = re.compile(
    r"models/[a-z0-9][a-z0-9.-]{0,62}/operations/[A-Za-z0-9_-]{1,128}"
    r"|interactions/[A-Za-z0-9_-]{1,128}"
)


class Refused(ValueError):
    """Not provably a fresh delivery from the Gemini API; `http_status` is the answer."""

    def __init__(self, message: str, http_status: int = 401) -> None:
        super().__init__(message)
        self.http_status = http_status


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise Refused("the webhook_secret setting is not whsec_ followed by base64") from None
    if not key:
        raise Refused("the webhook_secret setting is empty")
    return key


def sign(secret: str, msg_id: str, stamp: str, body: bytes) -> str:
    """The `webhook-signature` value for one delivery (the emulator signs with it)."""
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> str:
    """The delivery's id if `body` carries a valid, fresh signature; Refused otherwise.

    `headers` have lower-case names, `now` is Unix seconds from the provider's clock. The
    message never holds the secret.
    """
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise Refused("missing webhook-id, webhook-timestamp or webhook-signature header", 400)
    try:
        sent = int(stamp)
    except ValueError:
        raise Refused("webhook-timestamp is not Unix seconds", 400) from None
    if abs(now - sent) > tolerance:
        raise Refused(
            f"webhook-timestamp is {now - sent:+.0f} s from now, outside ±{tolerance:.0f} s "
            "(a replay, or this machine's clock is wrong)"
        )
    expected = sign(secret, msg_id, stamp, body).encode()
    for entry in signatures.split():
        if hmac.compare_digest(expected, entry.encode()):
            return msg_id
    raise Refused("no webhook-signature matches the body")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def task_named(body: bytes) -> str:
    """The one task a verified delivery names; Refused (400) when it names none or several."""
    try:
        document = json.loads(body)
    except ValueError:
        raise Refused("the delivery is not JSON", 400) from None
    found = set()
    for text in _strings(document):
        if _TASK.fullmatch(text):
            found.add(text)
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise Refused(f"the delivery names {what} video operation or interaction", 400)
    return found.pop()
