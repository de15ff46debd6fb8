"""Webhook signature verification (Standard Webhooks, as Replicate signs its deliveries)."""

import base64
import hashlib
import hmac

import pytest

from videoprovider_replicate.webhooks import WebhookVerificationError, verify_webhook

KEY = b"sk-test-webhook-signing-key-0123"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"id":"gm3qorzdhgbfurvjtvhg6dckhu","status":"succeeded"}'
NOW = 1_760_000_000


def signed(body: bytes = BODY, stamp: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    mac = hmac.new(KEY, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": "v1," + base64.b64encode(mac).decode(),
    }


def test_a_valid_delivery_passes() -> None:
    verify_webhook(BODY, signed(), SECRET, now=NOW + 30)


def test_one_valid_signature_among_several_passes() -> None:
    headers = signed()
    headers["Webhook-Signature"] = "v1,AAAA v2,zzz " + headers["Webhook-Signature"]
    verify_webhook(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("body", "headers", "now", "says"),
    [
        (BODY + b" ", signed(), NOW, "no webhook-signature matches"),
        (BODY, signed(stamp=NOW - 301), NOW, "outside"),
        (BODY, signed(stamp=NOW + 301), NOW, "outside"),
        (BODY, {k: v for k, v in signed().items() if k != "Webhook-Id"}, NOW, "missing"),
        (BODY, {**signed(), "Webhook-Timestamp": "soon"}, NOW, "Unix seconds"),
        (BODY, {**signed(), "Webhook-Signature": "v1,!!!"}, NOW, "no webhook-signature"),
    ],
)
def test_tampered_stale_or_incomplete_deliveries_are_refused(
    body: bytes, headers: dict[str, str], now: int, says: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=says):
        verify_webhook(body, headers, SECRET, now=now)


def test_the_wrong_secret_is_refused_without_showing_it() -> None:
    other = "whsec_" + base64.b64encode(b"sk-test-another-key").decode()
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, signed(), other, now=NOW)
    assert "sk-test" not in str(info.value) and other not in str(info.value)


@pytest.mark.parametrize(
    ("headers", "now", "status"),
    [
        ({k: v for k, v in signed().items() if k != "Webhook-Signature"}, NOW, 400),
        ({**signed(), "Webhook-Timestamp": "soon"}, NOW, 400),
        (signed(), NOW + 301, 401),
        ({**signed(), "Webhook-Signature": "v1,AAAA"}, NOW, 401),
    ],
)
def test_each_refusal_names_the_status_to_answer(
    headers: dict[str, str], now: int, status: int
) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers, SECRET, now=now)
    assert info.value.http_status == status


@pytest.mark.parametrize(
    "stamp",
    ["1" + "0" * 400, "nan", "inf", "-1", "+1760000000", "1_760_000_000", "١٧٦", "1e9", " 17", ""],
)
def test_an_unreadable_or_absurd_timestamp_is_refused_as_unauthenticated(stamp: str) -> None:
    # `1` and 400 zeros once overflowed float arithmetic: a 500 before the signature.
    headers = {**signed(), "Webhook-Timestamp": stamp}
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers, SECRET, now=NOW)
    assert info.value.http_status == 400


@pytest.mark.parametrize("stamp", [0, 999_999_999_999])
def test_a_readable_timestamp_far_from_now_is_refused_401(stamp: int) -> None:
    with pytest.raises(WebhookVerificationError, match="outside") as info:
        verify_webhook(BODY, signed(stamp=stamp), SECRET, now=NOW)
    assert info.value.http_status == 401
