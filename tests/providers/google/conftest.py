from collections.abc import Callable
from typing import Any

import httpx
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.provider import ProviderContext
from videoprovider_google.gemini import GoogleProvider
from videoprovider_google.settings import GoogleSettings

KEY = "sk-test-0123456789abcdef"
NAME = "models/veo-3.1-generate-preview/operations/abc123def456"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler answering with a script (the last reply repeats)."""

    def __init__(self, *replies: Handler | httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)


def operation(**fields: Any) -> httpx.Response:
    return httpx.Response(200, json={"name": NAME, **fields})


def google_error(http: int, status: str, message: str = "no", **extra: Any) -> httpx.Response:
    return httpx.Response(
        http, json={"error": {"code": http, "message": message, "status": status, **extra}}
    )


MakeProvider = Callable[..., tuple[GoogleProvider, Recorder, VirtualClock]]


@pytest.fixture
def make_provider() -> MakeProvider:
    def make(*replies: Any, **settings: Any) -> tuple[GoogleProvider, Recorder, VirtualClock]:
        recorder = Recorder(*(replies or (operation(),)))
        clock = VirtualClock()
        settings.setdefault("api_key", KEY)
        context = ProviderContext(
            name="google",
            clock=clock,
            transport=httpx.MockTransport(recorder),
            user_agent="videoprovider/test",
        )
        return GoogleProvider(GoogleSettings(**settings), context), recorder, clock

    return make
