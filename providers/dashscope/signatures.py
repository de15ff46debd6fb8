"""EventBridge's RSA signature on an HTTP delivery: who sent it, and that its body is intact.

EventBridge signs what it pushes to an HTTP/HTTPS target [EventBridge signature algorithm
page]: the string to sign is the target URL, then the fixed headers as `name: value` lines
in this order, then the raw body, joined by newlines; its SHA-256 hash is signed with
EventBridge's RSA key (PKCS#1 v1.5) into `x-eventbridge-signature-v2`, and the certificate of
the public key is at the `x-eventbridge-signature-url`, which must be on an official
`https://[RegionId]-eventbridge.oss-accelerate.aliyuncs.com` host. A timestamp more than 60 s
from now is refused. The layout comes from that page and from receivers others published,
not from a live delivery: docs/providers/dashscope.md says what that means.

The page says nothing about the certificate itself, so it is held to what any signer's
certificate must prove, with `cryptography`'s X.509 path validation: the host is one of
`CERT_HOSTS` (the documented form with a real region id, not any bucket named
`*-eventbridge`); the certificate chains to a trusted CA (the system's, or `events_ca_file`),
is valid now, and names an Alibaba Cloud domain (`SIGNER_DOMAINS`) in its subject
alternative names. A self-signed certificate is never trusted unless its CA file says so.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import ssl
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
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
# The documented host form with each Alibaba Cloud region id EventBridge runs in
# (EventBridge's endpoint list); a bucket merely named `<anything>-eventbridge` is not one.
REGION_IDS = (
    "cn-hangzhou", "cn-shanghai", "cn-qingdao", "cn-beijing", "cn-zhangjiakou",
    "cn-huhehaote", "cn-wulanchabu", "cn-shenzhen", "cn-heyuan", "cn-guangzhou",
    "cn-chengdu", "cn-hongkong", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1",
    "ap-southeast-3", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-south-1",
    "us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "me-east-1", "me-central-1",
)  # fmt: skip
CERT_HOSTS = frozenset(f"{r}-eventbridge.oss-accelerate.aliyuncs.com" for r in REGION_IDS)
# A signer's certificate must be issued to one of these (or a name under them).
SIGNER_DOMAINS = ("aliyuncs.com", "aliyun.com", "alibabacloud.com")
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

    def __init__(
        self, http: httpx.AsyncClient, target_url: str, trusted: Sequence[Any] | None = None
    ) -> None:
        """`trusted`: the CA certificates (`cryptography.x509.Certificate`) a signing
        certificate must chain to; None: the system's CA bundle."""
        try:
            from cryptography.x509.verification import Store
        except ImportError:
            raise ConfigurationError(
                "Checking EventBridge's signatures (events_url) needs the cryptography "
                "package (50 or later): pip install 'videoprovider[events]', or unset "
                "events_url."
            ) from None
        self._http = http
        self.target_url = target_url
        roots = list(trusted) if trusted is not None else system_roots()
        if not roots:
            raise ConfigurationError(
                "No trusted CA certificates were found to check EventBridge's signing "
                "certificate against.",
                hint="Set events_ca_file to a PEM file of the CAs to trust, or unset events_url.",
            )
        self._store = Store(roots)
        # url -> (public key, the certificate's end of validity)
        self._keys: OrderedDict[str, tuple[Any, datetime]] = OrderedDict()

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
        key = await self._key(headers["x-eventbridge-signature-url"], now)
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

    async def _key(self, url: str, now: datetime) -> Any:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or parts.port or parts.username or host not in CERT_HOSTS:
            raise _refused(f"its certificate URL is not on an EventBridge host ({host[:80]})")
        cached = self._keys.get(url)
        if cached is not None and now < cached[1]:
            self._keys.move_to_end(url)
            return cached[0]
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
        key, until = self._verified(response.content, now)
        self._keys[url] = (key, until)
        while len(self._keys) > KEEP_CERTS:
            self._keys.popitem(last=False)
        return key

    def _verified(self, pem: bytes, now: datetime) -> tuple[Any, datetime]:
        """The RSA key of the certificate (and chain) in `pem`, once it chains to a trusted
        CA, is valid at `now` and is issued to an Alibaba Cloud name."""
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.x509.verification import (
            ExtensionPolicy,
            PolicyBuilder,
            VerificationError,
        )

        try:
            leaf, *intermediates = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise _refused("its certificate URL does not serve a PEM certificate") from None
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(now)
            .max_chain_depth(4)
            # A signing certificate, not a TLS server's: no serverAuth usage is asked of it.
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            raise _refused(
                f"its signing certificate does not verify ({str(exc)[:160]}): it must chain "
                "to a trusted CA and be valid now"
            ) from None
        names = [
            str(name.value).lower()
            for name in verified.subjects or ()
            if isinstance(name, x509.DNSName)
        ]
        if not any(_under(name, SIGNER_DOMAINS) for name in names):
            raise _refused(
                "its signing certificate is not issued to an Alibaba Cloud name "
                f"({', '.join(names[:3]) or 'no DNS names'})"
            )
        key = leaf.public_key()
        if not isinstance(key, RSAPublicKey):
            raise _refused("its certificate's key is not RSA")
        return key, leaf.not_valid_after_utc


def _under(name: str, domains: Sequence[str]) -> bool:
    return any(name == d or name.endswith("." + d) for d in domains)


def system_roots() -> list[Any]:
    """The CA certificates of this system's default bundle (what TLS would trust)."""

    paths = ssl.get_default_verify_paths()
    roots: list[Any] = []
    for cafile in (paths.cafile, paths.openssl_cafile):
        if cafile and os.path.isfile(cafile):
            roots = load_roots(cafile)
            if roots:
                return roots
    return roots


def load_roots(path: str) -> list[Any]:
    """The CA certificates in the PEM file at `path`."""
    from cryptography import x509

    with open(path, "rb") as f, warnings.catch_warnings():
        # System bundles hold old roots with quirks cryptography warns about (a serial of 0).
        warnings.simplefilter("ignore")
        return list(x509.load_pem_x509_certificates(f.read()))


def trusted_cas(ca_file: str | None) -> list[Any] | None:
    """The CAs of `events_ca_file`, or None (the system's) when it is unset."""
    if ca_file is None:
        return None
    try:
        return load_roots(os.path.expanduser(ca_file))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"events_ca_file {ca_file!r} is not a readable PEM file of CA certificates "
            f"({getattr(exc, 'strerror', None) or exc}).",
            hint="Point events_ca_file at the PEM file of the CAs EventBridge's signing "
            "certificate chains to, or unset it to use the system's.",
            provider=wire.PROVIDER,
        ) from None


def _refused(why: str) -> WebhookRejected:
    return WebhookRejected(
        f"Refused a DashScope event: {why}.",
        hint="Check that events_url is exactly the URL of the EventBridge HTTP target, and "
        "that this machine's clock is right; or unset events_url to rely on the token.",
        http_status=401,
        **_WHERE,
    )
