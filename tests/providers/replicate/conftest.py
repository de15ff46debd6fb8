from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.provider import ProviderContext
from videoprovider_replicate.emulator.models import ACME, WAN, WAN_VERSION
from videoprovider_replicate.provider import ReplicateProvider
from videoprovider_replicate.settings import ReplicateSettings

TOKEN = "sk-test-0123456789abcdef0123"
PID = "gm3qorzdhgbfurvjtvhg6dckhu"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler: model reads get a schema, other requests follow a script."""

    def __init__(self, *replies: Handler | httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path.startswith("/v1/models/"):
            return model_reply(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    def sent(self, method: str = "POST") -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


def model_reply(request: httpx.Request) -> httpx.Response:
    if "/versions/" in request.url.path:
        return httpx.Response(200, json={"id": "5" * 64, "openapi_schema": ACME})
    return httpx.Response(200, json={"latest_version": {"id": WAN_VERSION, "openapi_schema": WAN}})


def prediction(status: str = "starting", **fields: Any) -> dict[str, Any]:
    return {
        "id": PID,
        "status": status,
        "input": {"prompt": "a cat"},
        "output": None,
        "error": None,
        "logs": "",
        "created_at": "2026-01-01T00:00:00.000Z",
        **fields,
    }


def reply(status: str = "starting", code: int = 200, **fields: Any) -> httpx.Response:
    return httpx.Response(code, json=prediction(status, **fields))


MakeProvider = Callable[..., tuple[ReplicateProvider, Recorder, VirtualClock]]


@pytest.fixture
def make_provider(tmp_path: Path) -> MakeProvider:
    def make(*replies: Any, **settings: Any) -> tuple[ReplicateProvider, Recorder, VirtualClock]:
        recorder = Recorder(*(replies or (reply(code=201),)))
        clock = VirtualClock()
        settings.setdefault("api_token", TOKEN)
        settings.setdefault("schema_cache_dir", str(tmp_path / "schemas"))
        context = ProviderContext(
            name="replicate",
            clock=clock,
            transport=httpx.MockTransport(recorder),
            user_agent="videoprovider/test",
        )
        return ReplicateProvider(ReplicateSettings(**settings), context), recorder, clock

    return make
