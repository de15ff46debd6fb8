"""The emulator's webhook deliveries, signed as fal signs them, and its JWKS document.

fal POSTs `{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload"}` to the
submit's `fal_webhook` URL with `X-Fal-Webhook-*` headers, signed by a key of its JWKS
document [webhooks]. Here a background task on the emulator's loop checks each tick what
has completed and sends it; a receiver that fails gets the same bytes again, a few times.
`rotate()` signs with a new key and publishes both, as a key rotation does.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..webhooks import message

USER_ID = "emulator-user"
ATTEMPTS = 3
TICK = 0.01  # real seconds between checks of the emulator's (possibly virtual) clock


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}


def signed_headers(
    key: Ed25519PrivateKey, request_id: str, body: bytes, stamp: int, user_id: str = USER_ID
) -> dict[str, str]:
    """The headers fal sends with `body`, signed by `key`."""
    signature = key.sign(message(request_id, user_id, str(stamp), body)).hex()
    return {
        "Content-Type": "application/json",
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": str(stamp),
        "X-Fal-Webhook-Signature": signature,
    }


@dataclass
class Delivery:
    request_id: str
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: int = 0
    answer: int | None = None  # the receiver's last HTTP status; None: not reached

    @property
    def delivered(self) -> bool:
        return self.answer is not None and 200 <= self.answer < 300


class Deliverer:
    """Signs, queues and sends deliveries; `deliveries` lists every one, in order."""

    def __init__(self) -> None:
        # Fixed test keys (never a real secret): the same emulator run signs the same way.
        self.keys = [(Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32), "emu-1")]
        self.deliveries: list[Delivery] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = threading.Condition()

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return self.keys[-1][0]

    def rotate(self) -> None:
        n = len(self.keys) + 1
        self.keys.append((Ed25519PrivateKey.from_private_bytes(bytes([7 + n]) * 32), f"emu-{n}"))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk(key, kid) for key, kid in self.keys]}

    def settled(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait (real seconds, for tests in another thread) until `count` deliveries exist,
        each delivered or given up."""

        def done() -> bool:
            return len(self.deliveries) >= count and all(
                d.delivered or d.attempts >= ATTEMPTS for d in self.deliveries
            )

        with self._changed:
            if not self._changed.wait_for(done, timeout):
                raise TimeoutError(f"{count} webhook deliveries did not settle in {timeout} s")
            return list(self.deliveries)

    def queue(self, request_id: str, url: str, body: bytes, stamp: int) -> None:
        headers = signed_headers(self.signing_key, request_id, body, stamp)
        with self._changed:
            self.deliveries.append(Delivery(request_id, url, headers, body))

    def start(self, find_due: Callable[[], None]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(find_due))

    async def _run(self, find_due: Callable[[], None]) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                find_due()
                due = [d for d in self.deliveries if not d.delivered and d.attempts < ATTEMPTS]
                await asyncio.gather(*(self._send(http, d) for d in due))
                await asyncio.sleep(TICK)

    async def _send(self, http: httpx.AsyncClient, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            response = await http.post(
                delivery.url, content=delivery.body, headers=delivery.headers
            )
            answer: int | None = response.status_code
        except httpx.HTTPError:
            answer = None
        with self._changed:
            delivery.answer = answer
            self._changed.notify_all()
