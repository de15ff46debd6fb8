"""The gateway keeps what was paid for: one submit per Idempotency-Key, every task across a
kill -9 or a SIGTERM, every video stored until its retention ends."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from .conftest import Server, StartServer

openai = pytest.importorskip("openai")
# The openai clients mark their videos resource deprecated since OpenAI closed its service.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test-local", max_retries=0)


def journaled(server: Server) -> int:
    """How many tasks the library's journal holds: one per paid submit."""
    db = sqlite3.connect(server.config.with_name("journal.sqlite3"))
    try:
        return int(db.execute("SELECT COUNT(*) FROM videoprovider_journal").fetchone()[0])
    finally:
        db.close()


def settle(oc: openai.OpenAI, video_id: str, polls: int = 200) -> str:
    """Look until the video has ended; each look moves the gateway's clock one tick."""
    for _ in range(polls):
        status = oc.videos.retrieve(video_id).status
        if status in ("completed", "failed"):
            return status
    raise AssertionError(f"{video_id} still open after {polls} looks")


def test_an_idempotency_key_returns_the_same_video_and_submits_once(
    start_server: StartServer,
) -> None:
    server = start_server()
    oc = client(server.url)
    key = {"Idempotency-Key": "order-17"}
    first = oc.videos.create(prompt="A cat", extra_headers=key)
    again = oc.videos.create(prompt="A cat", extra_headers=key)
    assert again.id == first.id
    assert journaled(server) == 1

    server.restart(signal.SIGKILL)
    oc = client(server.url)
    assert oc.videos.create(prompt="A cat", extra_headers=key).id == first.id
    assert journaled(server) == 1
    with pytest.raises(openai.ConflictError) as caught:
        oc.videos.create(prompt="A dog", extra_headers=key)
    assert caught.value.body["code"] == "idempotency_key_reused"  # type: ignore[index]
    assert oc.videos.create(prompt="A cat").id != first.id  # no key: a new video


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_task_open_when_the_gateway_stops_completes_after_the_restart(
    start_server: StartServer, sig: int
) -> None:
    server = start_server()
    video = client(server.url).videos.create(prompt="survives", seconds="4")
    code = server.stop(sig)
    if sig == signal.SIGTERM:
        # uvicorn's graceful shutdown ran the app's lifespan to its end, then re-raised
        assert code in (0, -signal.SIGTERM)
        assert "gateway stopped; 1 open videos" in server.stderr.read_text()
    server.start()
    oc = client(server.url)
    assert settle(oc, video.id) == "completed"
    assert oc.videos.download_content(video.id).read()[4:8] == b"ftyp"
    assert journaled(server) == 1


def test_the_stored_file_goes_when_its_retention_ends(start_server: StartServer) -> None:
    # 0.002 h is 7.2 s of the gateway's clock, which each request moves by one second.
    server = start_server("retention_hours = 0.002\n")
    oc = client(server.url)
    video = oc.videos.create(prompt="short-lived")
    assert settle(oc, video.id) == "completed"
    done = oc.videos.retrieve(video.id)
    assert done.expires_at is not None and done.completed_at is not None
    assert done.expires_at - done.completed_at == 7
    stored = Path(server.config.parent / "videos" / f"{video.id}.mp4")
    assert stored.is_file()
    for _ in range(10):
        answer = httpx.get(f"{server.url}/v1/videos/{video.id}/content")
        if answer.status_code != 200:
            break
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "video_expired"
    assert not stored.exists()
    assert oc.videos.retrieve(video.id).status == "completed"


def test_content_supports_range_requests(start_server: StartServer) -> None:
    server = start_server()
    oc = client(server.url)
    video = oc.videos.create(prompt="ranged")
    assert settle(oc, video.id) == "completed"
    whole = oc.videos.download_content(video.id).read()
    part = httpx.get(f"{server.url}/v1/videos/{video.id}/content", headers={"Range": "bytes=4-7"})
    assert part.status_code == 206
    assert part.content == whole[4:8] == b"ftyp"
    assert part.headers["content-range"] == f"bytes 4-7/{len(whole)}"


def test_a_second_process_on_the_store_takes_over_a_dead_ones_videos(
    start_server: StartServer,
) -> None:
    first = start_server("lease_seconds = 5\n")
    second = start_server("lease_seconds = 5\n")
    video = client(first.url).videos.create(prompt="taken over", seconds="4")
    first.stop(signal.SIGKILL)
    # The second process's sweeps (every half lease of its clock, which its requests move)
    # find the lease run out and follow the video to its end.
    oc = client(second.url)
    assert settle(oc, video.id) == "completed"
    assert oc.videos.download_content(video.id).read()[4:8] == b"ftyp"
    assert journaled(second) == 1


def test_two_gateways_on_postgresql_share_the_videos(
    start_server: StartServer, postgres_database: str
) -> None:
    first = start_server("lease_seconds = 5\n", database=postgres_database)
    second = start_server("lease_seconds = 5\n", database=postgres_database)
    video = client(first.url).videos.create(prompt="shared", seconds="4")
    assert client(second.url).videos.retrieve(video.id).id == video.id  # one store
    first.stop(signal.SIGKILL)
    oc = client(second.url)
    assert settle(oc, video.id) == "completed"
    assert oc.videos.download_content(video.id).read()[4:8] == b"ftyp"
