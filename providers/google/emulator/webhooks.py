"""The emulator's project webhook: signed deliveries for the operations and interactions that
have finished, as the Gemini API pushes them (Standard Webhooks headers, `whsec_` secret).

The body is this emulator's own: `{"type": event, "data": {"name": task}}`. The real body's
fields are not documented where we could read them, and the provider reads only the task
name from it (see docs/providers/google.md, Updates without polling).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from ..webhooks import sign

if TYPE_CHECKING:
    from .service import GoogleService

DEFAULT_SECRET = "whsec_" + base64.b64encode(b"google-emulator-webhook-key-0001").decode()
Delivery = tuple[dict[str, str], bytes]


def signed(secret: str, msg_id: str, stamp: int, event: str, task: str) -> Delivery:
    """One delivery: its headers and its raw body."""
    body = json.dumps({"type": event, "data": {"name": task}}).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, str(stamp), body),
    }
    return headers, body


def due(service: GoogleService) -> list[Delivery]:
    """The deliveries of every task that finished since the last call, each sent once."""
    stamp = int(service.clock.now().timestamp())
    out: list[Delivery] = []
    finished = [
        (n, "video.generated")
        for n in service.operations
        if n.startswith("models/") and _done(service, n)
    ]
    for item in service.interactions.interactions.values():
        state = service.interactions.view(item)["status"]
        if state in ("completed", "failed", "cancelled"):
            finished.append(("interactions/" + item.id, f"interaction.{state}"))
    for task, event in finished:
        if task in service.delivered:
            continue
        service.delivered.add(task)
        msg_id = "msg_" + "".join(service.rng.choice("0123456789abcdef") for _ in range(16))
        out.append(signed(service.config.webhook_secret, msg_id, stamp, event, task))
    return out


def _done(service: GoogleService, name: str) -> bool:
    return bool(service.view(service.operations[name]).get("done"))
