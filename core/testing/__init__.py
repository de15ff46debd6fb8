"""pytest plugin for host applications (loaded automatically through the `pytest11` entry
point when videoprovider is installed).

Fixtures:

* `video_clock`: a `VirtualClock`; waiting on it takes no real time.
* `video_client`: a `VideoClient` on the offline `fake` provider, driven by `video_clock`,
  isolated from the developer's environment and config files.
* `async_video_client`: the same as an `AsyncVideoClient` (for async tests).

Scenarios come from the fake provider's settings: parametrise them with
`@pytest.mark.videoprovider(scenario="fail", fail_code="Boom")`, or per request with
`extra={"fake": {...}}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..client import AsyncVideoClient
    from ..clock import VirtualClock
    from ..sync import VideoClient


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "videoprovider(**settings): settings for the video_client fixtures "
        "(fake provider settings such as scenario=..., or core settings such as "
        "wait_timeout=...)",
    )


def marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """The keyword arguments of every `name` marker on the test, the closest winning."""
    settings: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        settings.update(marker.kwargs)
    return settings


@pytest.fixture
def video_clock() -> VirtualClock:
    from ..clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def video_client(
    request: pytest.FixtureRequest, video_clock: VirtualClock
) -> Iterator[VideoClient]:
    from ..sync import VideoClient

    settings = {"provider": "fake", **marker_kwargs(request, "videoprovider")}
    with VideoClient(config=False, environ={}, clock=video_clock, **settings) as client:
        yield client


@pytest.fixture
async def async_video_client(
    request: pytest.FixtureRequest, video_clock: VirtualClock
) -> AsyncIterator[AsyncVideoClient]:
    from ..client import AsyncVideoClient

    settings = {"provider": "fake", **marker_kwargs(request, "videoprovider")}
    async with AsyncVideoClient(config=False, environ={}, clock=video_clock, **settings) as c:
        yield c
