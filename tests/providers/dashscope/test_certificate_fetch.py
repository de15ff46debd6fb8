"""A delivery whose signing certificate cannot be fetched is never applied.

Public behaviour only (the signature check itself is tested in test_signatures.py): through
the client's ASGI app, a certificate that does not arrive is a transient fault the sender
retries (503), a certificate URL that serves no certificate is a refusal, and in no case is
the task's status fetched or its wait ended.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from videoprovider import AsyncVideoClient, VirtualClock
from videoprovider.webhooks import asgi_app

from .conftest import KEY
from .test_signatures import TARGET, TASK, TOKEN, body, signed

pytestmark = pytest.mark.anyio
Reply = Callable[[httpx.Request], httpx.Response]


def _raise(exc: type[httpx.HTTPError]) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        raise exc("certificate host unreachable", request=request)

    return reply


async def post(app: Any, headers: dict[str, str], payload: bytes) -> int:
    """POST one delivery to the ASGI `app`; its status code."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": payload, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/hooks/dashscope",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    ("certificate", "answer"),
    [
        (_raise(httpx.ConnectError), 503),
        (_raise(httpx.ReadTimeout), 503),
        (lambda r: httpx.Response(503), 503),
        (lambda r: httpx.Response(500, text="oops"), 503),
        (lambda r: httpx.Response(200, text="<html>not a certificate</html>"), 401),
        (lambda r: httpx.Response(200, content=b"-" * (1024 * 1024)), None),
        (lambda r: httpx.Response(404), None),
    ],
    ids=["no-connection", "timeout", "503", "500", "not-pem", "huge", "404"],
)
async def test_a_delivery_whose_certificate_cannot_be_had_is_not_applied(
    certificate: Reply, answer: int | None
) -> None:
    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "eventbridge" in request.url.host:
            return certificate(request)
        polls.append(request.url.path)
        output = {"task_id": TASK, "task_status": "SUCCEEDED", "video_url": "https://v/x.mp4"}
        return httpx.Response(200, json={"request_id": "r", "output": output})

    async with AsyncVideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=VirtualClock(),
        transport=httpx.MockTransport(handler),
        api_key=KEY,
        events_token=TOKEN,
        events_url=TARGET,
    ) as client:
        status = await post(asgi_app(client), signed(body()), body())
    assert polls == [], "a delivery nobody could verify made the client fetch the task"
    if answer is None:
        assert status >= 400  # refused, or retried later: never taken
    else:
        assert status == answer
