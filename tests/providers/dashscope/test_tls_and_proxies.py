"""DashScope over HTTPS, as the real endpoint is, through a forward proxy from the environment.

The emulator serves TLS with a throwaway CA (trustme); the client trusts it through
SSL_CERT_FILE, and HTTPS_PROXY sends every connection through a proxy that counts them.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from videoprovider import ProviderUnavailable, SubmitOutcomeUnknown, TaskState, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider_dashscope.emulator import (
    EmulatorConfig,
    Fault,
    RunningEmulator,
    run_in_thread,
)

KEY = "sk-test-tls0123456789"


@pytest.fixture
def https_emulator(tls_ca: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    monkeypatch.setenv("SSL_CERT_FILE", tls_ca.pem_path)
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with run_in_thread(
        EmulatorConfig(api_keys=(KEY,), task_seconds=10.0),
        clock=VirtualClock(),
        tls=tls_ca.server_context(),
    ) as emulator:
        yield emulator


def client_for(emulator: RunningEmulator) -> VideoClient:
    clock = emulator.service.clock
    assert isinstance(clock, VirtualClock)
    return VideoClient(
        "dashscope", config=False, environ={}, clock=clock, api_key=KEY, base_url=emulator.base_url
    )


def test_the_emulator_speaks_https(https_emulator: RunningEmulator, tmp_path: Path) -> None:
    assert https_emulator.base_url.startswith("https://127.0.0.1:")
    with client_for(https_emulator) as client:
        video = client.generate("a cat", tmp_path / "cat.mp4")
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"


def test_api_calls_and_downloads_go_through_the_environment_proxy(
    https_emulator: RunningEmulator,
    forward_proxy: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    origin = https_emulator.base_url.removeprefix("https://")
    with client_for(https_emulator) as client:
        task = client.submit("a cat")
        # The API client's own connection: the submit itself crossed the proxy.
        assert forward_proxy.tunnels == [origin]
        client.wait(task)
        client.download(task, tmp_path / "cat.mp4")
    # The download client is a second connection through the same proxy.
    assert forward_proxy.tunnels == [origin, origin]
    assert forward_proxy.bytes_down > (tmp_path / "cat.mp4").stat().st_size


def test_no_proxy_exempts_the_host(
    https_emulator: RunningEmulator,
    forward_proxy: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with client_for(https_emulator) as client:
        client.generate("a cat", tmp_path / "cat.mp4")
    assert forward_proxy.tunnels == []


def test_an_oversized_status_reply_is_refused_with_the_limit(
    https_emulator: RunningEmulator,
) -> None:
    with client_for(https_emulator) as client:
        task = client.submit("a cat")
        https_emulator.service.inject(Fault("huge", match="status", count=20))
        with pytest.raises(ProviderUnavailable, match="limit of 4194304 bytes") as info:
            client.status(task)
    assert KEY not in str(info.value)


def test_an_oversized_submit_reply_is_an_unknown_outcome_never_resent(
    https_emulator: RunningEmulator,
) -> None:
    https_emulator.service.inject(Fault("huge", match="submit"))
    with client_for(https_emulator) as client, pytest.raises(SubmitOutcomeUnknown) as info:
        client.submit("a cat")
    assert "limit of 4194304 bytes" in str(info.value)
    assert len(https_emulator.service.requests_of("submit")) == 1
    assert info.value.request is not None and info.value.request.prompt == "a cat"


def test_tasks_complete_on_the_shared_clock(https_emulator: RunningEmulator) -> None:
    with client_for(https_emulator) as client:
        assert client.wait(client.submit("a cat")).state is TaskState.COMPLETED
