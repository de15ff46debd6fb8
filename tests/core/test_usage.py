"""What a provider's API client counts: requests by kind, throttled replies, the budget in use."""

import httpx
import pytest

from videoprovider.apiclient import api_client, send_bounded
from videoprovider.budget import RequestWindow
from videoprovider.provider import ProviderContext
from videoprovider.usage import requests_of

pytestmark = pytest.mark.anyio


async def test_requests_are_counted_by_kind_and_429s_as_throttled() -> None:
    replies = iter([429, 200, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(replies), json={})

    context = ProviderContext(name="t", transport=httpx.MockTransport(answer))
    timeout = httpx.Timeout(5.0)
    async with api_client(
        context, base_url="https://api.invalid", headers={}, timeout=timeout
    ) as http:
        with requests_of("submit"):
            assert (await send_bounded(http, "POST", "/tasks")).status_code == 429
            await send_bounded(http, "POST", "/tasks")  # a provider's own retry counts too
        await send_bounded(http, "GET", "/tasks/1")  # outside any operation
    assert dict(context.requests.sent) == {"submit": 2, "other": 1}
    assert context.requests.throttled == 1


def test_the_budget_in_use_is_in_flight_and_returned_within_a_second() -> None:
    window = RequestWindow()
    window.begin()
    window.begin()
    window.end(now=10.0)
    assert window.in_use(10.5) == 2
    assert window.in_use(11.5) == 1  # the returned one left the window
    assert window.free(11.5, limit=3) == 2
