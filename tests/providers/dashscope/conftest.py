from collections.abc import Callable
from typing import Any

import httpx
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.provider import ProviderContext
from videoprovider_dashscope.provider import DashScopeProvider
from videoprovider_dashscope.settings import DashScopeSettings

KEY = "sk-test-0123456789abcdef0123"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that records requests and answers from a script of handlers."""

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


def ok_submit(task_id: str = "t-1") -> httpx.Response:
    return httpx.Response(
        200, json={"request_id": "r-1", "output": {"task_id": task_id, "task_status": "PENDING"}}
    )


def task_reply(status: str, **output: Any) -> httpx.Response:
    return httpx.Response(
        200,
        json={"request_id": "r-2", "output": {"task_id": "t-1", "task_status": status, **output}},
    )


MakeProvider = Callable[..., tuple[DashScopeProvider, Recorder, VirtualClock]]


@pytest.fixture
def make_provider() -> MakeProvider:
    def make(*replies: Any, **settings: Any) -> tuple[DashScopeProvider, Recorder, VirtualClock]:
        recorder = Recorder(*(replies or (ok_submit(),)))
        clock = VirtualClock()
        settings.setdefault("api_key", KEY)
        context = ProviderContext(
            name="dashscope",
            clock=clock,
            transport=httpx.MockTransport(recorder),
            user_agent="videoprovider/test",
        )
        return DashScopeProvider(DashScopeSettings(**settings), context), recorder, clock

    return make
