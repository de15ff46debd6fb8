"""EventBridge's RSA signature on a delivery, checked when `events_url` is set."""

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from videoprovider import AsyncVideoClient, ProviderUnavailable, VirtualClock, WebhookRejected
from videoprovider_dashscope.emulator.events import DEFAULT_ACCOUNT_ID, event_body
from videoprovider_dashscope.signatures import EventBridgeSignatures, string_to_sign

from .conftest import KEY

pytestmark = pytest.mark.anyio
TOKEN = "sk-test-events-0123456789"
TARGET = "https://example.com/hooks/dashscope"
CERT_URL = "https://cn-beijing-eventbridge.oss-accelerate.aliyuncs.com/x509_public_certificate.pem"
NOW = VirtualClock.EPOCH
TASK = "0385dc79-5ff8-4d82-bcb6-9c5e3f3fa1a2"


def make_cert(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eventbridge test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# EventBridge's signer, as the tests set it up: a leaf issued to an Alibaba Cloud name by a
# test CA that each test configures as trusted (as events_ca_file would).
TEST_CA = trustme.CA(key_type=trustme.KeyType.RSA)
SIGNER = TEST_CA.issue_cert(
    "eventbridge.aliyuncs.com",
    key_type=trustme.KeyType.RSA,
    not_before=NOW - timedelta(days=30),
    not_after=NOW + timedelta(days=30),
)


def private_key(leaf: trustme.LeafCert) -> rsa.RSAPrivateKey:
    pem = leaf.private_key_pem.bytes()
    return cast(rsa.RSAPrivateKey, serialization.load_pem_private_key(pem, None))


KEY_PAIR = private_key(SIGNER)
CERT = SIGNER.cert_chain_pems[0].bytes()
TRUSTED = [x509.load_pem_x509_certificate(TEST_CA.cert_pem.bytes())]


BODY = event_body(TASK, "SUCCEEDED", NOW, NOW, published=NOW, account_id=DEFAULT_ACCOUNT_ID)[1]


def body() -> bytes:
    return BODY


def signed(
    payload: bytes, *, key: rsa.RSAPrivateKey = KEY_PAIR, url: str = TARGET, **over: str
) -> dict[str, str]:
    headers = {
        "x-eventbridge-signature-timestamp": str(int(NOW.timestamp() * 1000)),
        "x-eventbridge-hash-method": "SHA256",
        "x-eventbridge-signature-version": "1.0",
        "x-eventbridge-signature-url": CERT_URL,
        "x-eventbridge-signature-token": TOKEN,
        **over,
    }
    message = string_to_sign(url, headers, payload)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {**headers, "x-eventbridge-signature-v2": base64.b64encode(signature).decode()}


class CertServer:
    def __init__(self, reply: httpx.Response | None = None) -> None:
        self.fetches = 0
        self.reply = reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        assert str(request.url) == CERT_URL
        return self.reply or httpx.Response(200, content=CERT)


def checker(server: CertServer, trusted: list[x509.Certificate] = TRUSTED) -> EventBridgeSignatures:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return EventBridgeSignatures(http, TARGET, trusted)


async def test_a_signed_delivery_is_taken_and_the_certificate_fetched_once() -> None:
    server = CertServer()
    signatures = checker(server)
    await signatures.verify(signed(body()), body(), NOW)
    await signatures.verify(signed(body()), body(), NOW + timedelta(seconds=30))
    assert server.fetches == 1


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (signed(body() + b" "), "does not match"),  # the body changed on the way
        (signed(body(), url="https://example.com/other"), "does not match"),
        (signed(body(), key=rsa.generate_private_key(65537, 2048)), "does not match"),
        # The token is signed too: swapping it after signing breaks the signature.
        ({**signed(body()), "x-eventbridge-signature-token": "sk-test-other"}, "does not match"),
        (signed(body(), **{"x-eventbridge-signature-url": "https://evil.example/c.pem"}), "host"),
        (
            signed(body(), **{"x-eventbridge-signature-url": CERT_URL.replace("https", "http")}),
            "host",
        ),
        (
            signed(body(), **{"x-eventbridge-signature-timestamp": str(int(NOW.timestamp()) - 61)}),
            "outside",
        ),
        ({"x-eventbridge-signature-token": TOKEN}, "unsigned"),
        (signed(body(), **{"x-eventbridge-hash-method": "MD5"}), "SHA256"),
    ],
)
async def test_a_forged_changed_stale_or_unsigned_delivery_is_refused_401(
    headers: dict[str, str], why: str
) -> None:
    with pytest.raises(WebhookRejected) as info:
        await checker(CertServer()).verify(headers, body(), NOW)
    assert info.value.http_status == 401 and why in info.value.message


async def test_a_certificate_that_cannot_be_fetched_is_a_transient_fault() -> None:
    with pytest.raises(ProviderUnavailable):
        await checker(CertServer(httpx.Response(503))).verify(signed(body()), body(), NOW)


async def test_the_client_checks_the_signature_when_events_url_is_set(tmp_path: Path) -> None:
    cert = CertServer()
    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.endswith("aliyuncs.com") and "eventbridge" in request.url.host:
            return cert(request)
        polls.append(request.url.path)
        output: dict[str, Any] = {
            "task_id": TASK,
            "task_status": "SUCCEEDED",
            "video_url": "https://cdn.example/v.mp4",
        }
        return httpx.Response(200, json={"request_id": "r", "output": output})

    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(TEST_CA.cert_pem.bytes())
    async with AsyncVideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=VirtualClock(),
        transport=httpx.MockTransport(handler),
        api_key=KEY,
        events_token=TOKEN,
        events_url=TARGET,
        events_ca_file=str(ca_file),
    ) as client:
        with pytest.raises(WebhookRejected) as unsigned:
            await client.receive_webhook({"x-eventbridge-signature-token": TOKEN}, body())
        status = await client.receive_webhook(signed(body()), body())
    assert unsigned.value.http_status == 401 and polls == [f"/api/v1/tasks/{TASK}"]
    assert status is not None and status.state.value == "COMPLETED"


def test_events_url_must_be_an_https_url() -> None:
    from videoprovider_dashscope.settings import DashScopeSettings

    with pytest.raises(ValueError, match="events_url must be"):
        DashScopeSettings(api_key=KEY, events_token=TOKEN, events_url="ftp://x")
    with pytest.raises(ValueError, match="events_url needs events_token"):
        DashScopeSettings(api_key=KEY, events_url=TARGET)


@pytest.mark.parametrize(
    "stamp", ["nan", "NaN", "inf", "-inf", "1e400", "1" + "0" * 400, "-5", "1.5e12", " 1", "x"]
)
async def test_a_non_numeric_non_finite_or_absurd_timestamp_is_refused_401(stamp: str) -> None:
    # nan once passed the freshness check: every comparison with it is false.
    server = CertServer()
    headers = signed(BODY, **{"x-eventbridge-signature-timestamp": stamp})
    with pytest.raises(WebhookRejected) as info:
        await checker(server).verify(headers, BODY, NOW)
    assert info.value.http_status == 401
    assert server.fetches == 0  # refused before any certificate is fetched


@pytest.mark.parametrize(
    "host",
    [
        "evil-eventbridge.oss-accelerate.aliyuncs.com",  # any bucket may be named so
        "cn-beijing-eventbridge.oss-accelerate.aliyuncs.com.evil.example",
        "x.cn-beijing-eventbridge.oss-accelerate.aliyuncs.com",
        "cn-beijing-eventbridge.oss-cn-beijing.aliyuncs.com",
    ],
)
async def test_a_certificate_from_a_bucket_merely_named_eventbridge_is_refused(host: str) -> None:
    server = CertServer()
    url = f"https://{host}/x509_public_certificate.pem"
    headers = signed(body(), **{"x-eventbridge-signature-url": url})
    with pytest.raises(WebhookRejected, match="not on an EventBridge host") as info:
        await checker(server).verify(headers, body(), NOW)
    assert info.value.http_status == 401 and server.fetches == 0


async def test_a_self_signed_signing_certificate_is_refused() -> None:
    # Anyone holding the token could otherwise sign with a key of their own.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = CertServer(httpx.Response(200, content=make_cert(key)))
    with pytest.raises(WebhookRejected, match="does not verify") as info:
        await checker(server).verify(signed(body(), key=key), body(), NOW)
    assert info.value.http_status == 401


async def test_a_certificate_of_an_untrusted_ca_expired_or_of_another_name_is_refused() -> None:
    other_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    untrusted = [x509.load_pem_x509_certificate(other_ca.cert_pem.bytes())]
    with pytest.raises(WebhookRejected, match="does not verify"):
        await checker(CertServer(), untrusted).verify(signed(body()), body(), NOW)
    with pytest.raises(WebhookRejected, match="does not verify"):
        await checker(CertServer()).verify(
            signed(body(), **{"x-eventbridge-signature-timestamp": "1893456000000"}),
            body(),
            NOW.replace(year=2030),  # after the certificate's end
        )
    stranger = TEST_CA.issue_cert(
        "signer.example.com",
        key_type=trustme.KeyType.RSA,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    key = cast(
        rsa.RSAPrivateKey,
        serialization.load_pem_private_key(stranger.private_key_pem.bytes(), None),
    )
    server = CertServer(httpx.Response(200, content=stranger.cert_chain_pems[0].bytes()))
    with pytest.raises(WebhookRejected, match="not issued to an Alibaba Cloud name"):
        await checker(server).verify(signed(body(), key=key), body(), NOW)


async def test_a_certificate_chaining_to_a_trusted_ca_is_accepted_and_cached() -> None:
    server = CertServer()
    signatures = checker(server)
    await signatures.verify(signed(body()), body(), NOW)
    later = NOW + timedelta(days=29)
    stamp = {"x-eventbridge-signature-timestamp": str(int(later.timestamp() * 1000))}
    await signatures.verify(signed(body(), **stamp), body(), later)
    assert server.fetches == 1
