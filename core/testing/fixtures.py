"""The pytest fixtures for host applications (`videoprovider.testing`, loaded automatically
through the `pytest11` entry point when videoprovider is installed, re-exports them).

Fixtures:

* `video_clock`: a `VirtualClock`; waiting on it takes no real time.
* `video_client`: a `VideoClient` on the offline `fake` provider, driven by `video_clock`,
  isolated from the developer's environment, config files and data dir.
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


def client_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The fixture clients' settings: the markers', on the fake by default, whose cancels
    are kept in a file of this test's own rather than the user's data dir."""
    settings = {"provider": "fake", **marker_kwargs(request, "videoprovider")}
    if settings["provider"] == "fake" and "cancel_file" not in settings:
        settings["cancel_file"] = tmp_path_factory.mktemp("videoprovider") / "cancels.sqlite3"
    return settings


@pytest.fixture
def video_client(
    request: pytest.FixtureRequest,
    video_clock: VirtualClock,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VideoClient]:
    from ..sync import VideoClient

    settings = client_settings(request, tmp_path_factory)
    with VideoClient(config=False, environ={}, clock=video_clock, **settings) as client:
        yield client


@pytest.fixture
async def async_video_client(
    request: pytest.FixtureRequest,
    video_clock: VirtualClock,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[AsyncVideoClient]:
    from ..client import AsyncVideoClient

    settings = client_settings(request, tmp_path_factory)
    async with AsyncVideoClient(config=False, environ={}, clock=video_clock, **settings) as c:
        yield c
