"""pytest plugin (entry point `pytest11`): the Google (Gemini API) emulator for host applications.

Fixtures:

* `google_clock`: a `VirtualClock` shared by the emulator and `google_client`, so a
  client waiting on a 60-second operation moves the emulator's time and no test sleeps.
* `google_emulator`: a Google (Gemini API)-protocol server on 127.0.0.1 in this process
  (`.base_url`, `.service.requests`, `.service.inject(Fault(...))`). Configure it with
  `@pytest.mark.google_emulator(operation_seconds=30, ...)` (`EmulatorConfig` fields).
* `google_client`: a `VideoClient("google")` pointed at it, key `sk-test-emulator`,
  isolated from your environment and config files.
* `vertex_credentials`: a service-account key file whose token endpoint is the emulator's.
* `vertex_client`: a `VideoClient("vertex")` using it, pointed at the emulator's Vertex AI
  and Cloud Storage routes.

Imports happen inside the fixtures, so loading this plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from videoprovider.clock import VirtualClock
    from videoprovider.sync import VideoClient

    from .emulator import RunningEmulator

TEST_KEY = "sk-test-emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "google_emulator(**config): EmulatorConfig fields for the emulator fixture"
    )


@pytest.fixture
def google_clock() -> VirtualClock:
    from videoprovider.clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def google_emulator(
    request: pytest.FixtureRequest, google_clock: VirtualClock
) -> Iterator[RunningEmulator]:
    from videoprovider.testing import marker_kwargs

    from .emulator import EmulatorConfig, run_in_thread

    settings: dict[str, Any] = {
        "api_keys": (TEST_KEY,),
        **marker_kwargs(request, "google_emulator"),
    }
    with run_in_thread(EmulatorConfig(**settings), clock=google_clock) as emulator:
        yield emulator


@pytest.fixture
def google_client(
    google_emulator: RunningEmulator, google_clock: VirtualClock
) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    with VideoClient(
        "google",
        config=False,
        environ={},
        clock=google_clock,
        api_key=TEST_KEY,
        base_url=google_emulator.base_url,
    ) as client:
        yield client


@pytest.fixture
def vertex_credentials(google_emulator: RunningEmulator, tmp_path_factory: Any) -> str:
    from .emulator import service_account_file

    path = tmp_path_factory.mktemp("vertex") / "service-account.json"
    return service_account_file(path, google_emulator.token_uri)


@pytest.fixture
def vertex_client(
    google_emulator: RunningEmulator, google_clock: VirtualClock, vertex_credentials: str
) -> Iterator[VideoClient]:
    from videoprovider.sync import VideoClient

    with VideoClient(
        "vertex",
        config=False,
        environ={},
        clock=google_clock,
        credentials_file=vertex_credentials,
        base_url=google_emulator.vertex_url,
        storage_url=google_emulator.service.base_url,
    ) as client:
        yield client
