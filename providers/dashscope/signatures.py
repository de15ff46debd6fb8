"""EventBridge's RSA signature on an HTTP delivery: who sent it, and that its body is intact.

EventBridge signs what it pushes to an HTTP/HTTPS target [EventBridge signature algorithm
page]: the string to sign is the target URL, then the fixed headers as `name: value` lines
in this order, then the raw body, joined by newlines; its SHA-256 hash is signed with
EventBridge's RSA key (PKCS#1 v1.5) into `x-eventbridge-signature-v2`, and the certificate of
the public key is at the `x-eventbridge-signature-url`, which must be on an official
`https://<region>-eventbridge.oss-accelerate.aliyuncs.com` host. A timestamp more than 60 s
from now is refused. The layout comes from that page and from receivers others published,
not from a live delivery: docs/providers/dashscope.md says what that means.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from videoprovider.apiclient import describe, send_bounded
from videoprovider.errors import ConfigurationError, ProviderUnavailable, WebhookRejected

from . import wire

__all__ = ["SIGNED_HEADERS", "TOLERANCE_SECONDS", "EventBridgeSignatures", "string_to_sign"]

TOLERANCE_SECONDS = 60.0
SIGNED_HEADERS = (
    "x-eventbridge-signature-timestamp",
    "x-eventbridge-hash-method",
    "x-eventbridge-signature-version",
    "x-eventbridge-signature-url",
    "x-eventbridge-signature-token",
)
SIGNATURE_HEADER = "x-eventbridge-signature-v2"
CERT_HOST = re.compile(r"[a-z0-9-]+-eventbridge\.oss-accelerate\.aliyuncs\.com")
MAX_CERT_BYTES = 64 * 1024
_STAMP = re.compile(r"[0-9]{1,13}")
KEEP_CERTS = 16  # one per region and key rotation is plenty
_WHERE: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "webhook"}


def string_to_sign(target_url: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """What EventBridge signs for one delivery to `target_url` (headers lower-cased)."""
    lines = [target_url]
    lines += [f"{name}: {headers[name]}" for name in SIGNED_HEADERS if name in headers]
    return "\n".join(lines).encode() + b"\n" + body


class EventBridgeSignatures:
    """Checks deliveries to `target_url`; keeps the certificates it fetched with `http`."""

    def __init__(self, http: httpx.AsyncClient, target_url: str) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        except ImportError:
            raise ConfigurationError(
                "Checking EventBridge's signatures (events_url) needs the cryptography "
                "package: pip install 'videoprovider[events]', or unset events_url."
            ) from None
        self._http = http
        self.target_url = target_url
        self._keys: OrderedDict[str, RSAPublicKey] = OrderedDict()

    async def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Return if `body` carries EventBridge's valid, fresh signature; else raise
        WebhookRejected 401 (ProviderUnavailable when the certificate cannot be fetched)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        missing = [h for h in (*SIGNED_HEADERS[:4], SIGNATURE_HEADER) if not headers.get(h)]
        if missing:
            raise _refused(f"it has no {missing[0]} header (an unsigned delivery)")
        if headers["x-eventbridge-hash-method"].upper() not in ("SHA256", "SHA-256"):
            raise _refused("its x-eventbridge-hash-method is not SHA256")
        self._check_time(headers["x-eventbridge-signature-timestamp"], now)
        try:
            signature = base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
        except (binascii.Error, ValueError):
            raise _refused(f"its {SIGNATURE_HEADER} is not base64") from None
        key = await self._key(headers["x-eventbridge-signature-url"])
        message = string_to_sign(self.target_url, headers, body)
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _refused(
                "its signature does not match (a forgery, a changed body, or events_url is "
                "not the URL the EventBridge target posts to)"
            ) from None

    @staticmethod
    def _check_time(stamp: str, now: datetime) -> None:
        # Digits only (seconds, or milliseconds as EventBridge's own receivers read it):
        # float() would take "nan", "inf" and "1e400", and nan passes every comparison.
        if not _STAMP.fullmatch(stamp):
            raise _refused("its x-eventbridge-signature-timestamp is not a Unix time")
        sent = float(stamp)
        if sent > 1e11:
            sent /= 1000.0
        age = now.timestamp() - sent
        if abs(age) > TOLERANCE_SECONDS:
            raise _refused(
                f"it was signed {age:+.0f} s from now, outside ±{TOLERANCE_SECONDS:.0f} s "
                "(a replay, or this machine's clock is wrong)"
            )

    async def _key(self, url: str) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or parts.port or parts.username or not CERT_HOST.fullmatch(host):
            raise _refused(f"its certificate URL is not on an EventBridge host ({host[:80]})")
        if url in self._keys:
            self._keys.move_to_end(url)
            return self._keys[url]
        try:
            response = await send_bounded(self._http, "GET", url, max_bytes=MAX_CERT_BYTES)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Could not fetch EventBridge's signing certificate: {describe(exc)}.",
                **_WHERE,
            ) from exc
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"EventBridge's signing certificate answered HTTP {response.status_code}.",
                **_WHERE,
            )
        try:
            key = x509.load_pem_x509_certificate(response.content).public_key()
        except ValueError:
            raise _refused("its certificate URL does not serve a PEM certificate") from None
        if not isinstance(key, RSAPublicKey):
            raise _refused("its certificate's key is not RSA")
        self._keys[url] = key
        while len(self._keys) > KEEP_CERTS:
            self._keys.popitem(last=False)
        return key


def _refused(why: str) -> WebhookRejected:
    return WebhookRejected(
        f"Refused a DashScope event: {why}.",
        hint="Check that events_url is exactly the URL of the EventBridge HTTP target, and "
        "that this machine's clock is right; or unset events_url to rely on the token.",
        http_status=401,
        **_WHERE,
    )
