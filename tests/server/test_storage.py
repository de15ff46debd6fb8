"""The gateway's storage (core/server/storage.py) end to end: videos kept in an fsspec store,
in memory and in S3 (moto's server on 127.0.0.1), served with Range, deleted with the video
or at the end of retention; the folder default as before."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fsspec")

import fsspec
from fastapi.testclient import TestClient
from starlette.responses import FileResponse

from videoprovider.config import load_config
from videoprovider.errors import ConfigurationError
from videoprovider.server import create_app
from videoprovider.server.settings import ServerSettings, server_settings
from videoprovider.server.storage import FsspecStorage, open_storage
from videoprovider.testing.clocks import HeldClock
from videoprovider.trust import untrusted_may_set

from .conftest import KEY_A, StartServer, write_config

FAKE_KEY_ID = "AKIAtestFAKEFAKEFAKE"
FAKE_SECRET = "test-secret-not-a-real-one-0123456789abcd"


class Gateway:
    """The app on Starlette's test client, its clock held: `finish` moves time until a
    video ends."""

    def __init__(self, client: TestClient, clock: HeldClock) -> None:
        self.client, self.clock = client, clock

    @property
    def storage(self) -> Any:
        return self.client.app.state.gateway.storage  # type: ignore[attr-defined]

    def advance(self, seconds: float) -> None:
        assert self.client.portal is not None
        self.client.portal.call(self.clock.advance, seconds)

    def create(self) -> str:
        answer = self.client.post("/v1/videos", json={"prompt": "A cat"})
        assert answer.status_code == 200, answer.text
        video_id: str = answer.json()["id"]
        return video_id

    def finish(self, video_id: str, step: float = 5) -> dict[str, Any]:
        for _ in range(1000):  # the tracker runs on the app's loop; bounded by count
            self.advance(step)
            video: dict[str, Any] = self.client.get(f"/v1/videos/{video_id}").json()
            if video["status"] not in ("queued", "in_progress"):
                return video
        raise AssertionError(f"{video_id} did not end")

    def row_path(self, video_id: str) -> str:
        row = self.client.app.state.gateway.store.get(video_id)  # type: ignore[attr-defined]
        assert row is not None and row.path is not None
        path: str = row.path
        return path


def gateway_at(tmp_path: Path, storage: str, server: str = "") -> Iterator[Gateway]:
    clock = HeldClock()
    config = load_config(config=write_config(tmp_path, server=server, storage=storage))
    with TestClient(create_app(config, clock=clock)) as client:
        yield Gateway(client, clock)


@pytest.fixture
def memory_url() -> Iterator[str]:
    # The memory file system is one per process: each test its own prefix, removed after.
    url = f"memory://gateway-tests/{uuid.uuid4().hex}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


@pytest.fixture
def in_memory(tmp_path: Path, memory_url: str) -> Iterator[Gateway]:
    yield from gateway_at(tmp_path, memory_url, server="retention_hours = 1")


def keys_under(url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()  # s3fs caches listings; another process may have changed them
    return sorted(p.rsplit("/", 1)[-1] for p in fs.find(root))


def check_content_and_ranges(gw: Gateway, video_id: str) -> bytes:
    full = gw.client.get(f"/v1/videos/{video_id}/content")
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == str(len(full.content))
    assert full.content[4:8] == b"ftyp" and len(full.content) > 1000
    data = full.content

    first = gw.client.get(f"/v1/videos/{video_id}/content", headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert first.content == data[:100]

    tail = gw.client.get(f"/v1/videos/{video_id}/content", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]

    third = len(data) // 3
    middle = gw.client.get(
        f"/v1/videos/{video_id}/content", headers={"Range": f"bytes={third}-{2 * third}"}
    )
    assert middle.status_code == 206 and middle.content == data[third : 2 * third + 1]

    two = gw.client.get(f"/v1/videos/{video_id}/content", headers={"Range": "bytes=0-1,10-11"})
    assert two.status_code == 206
    assert two.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:2] in two.content and data[10:12] in two.content

    beyond = gw.client.get(
        f"/v1/videos/{video_id}/content", headers={"Range": f"bytes={len(data) + 5}-"}
    )
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"

    stale = gw.client.get(
        f"/v1/videos/{video_id}/content",
        headers={"Range": "bytes=0-9", "If-Range": '"another-etag"'},
    )
    assert stale.status_code == 200 and stale.content == data
    fresh = gw.client.get(
        f"/v1/videos/{video_id}/content",
        headers={"Range": "bytes=0-9", "If-Range": full.headers["etag"]},
    )
    assert fresh.status_code == 206 and fresh.content == data[:10]
    return data


def test_a_video_in_memory_storage_is_served_with_ranges_and_deleted_with_it(
    in_memory: Gateway, memory_url: str
) -> None:
    video_id = in_memory.create()
    assert in_memory.finish(video_id)["status"] == "completed"
    location = in_memory.row_path(video_id)
    assert location == f"{memory_url}/{video_id}.mp4".replace("memory://", "memory:///")
    assert keys_under(memory_url) == [f"{video_id}.mp4"]  # no temporary key left behind

    data = check_content_and_ranges(in_memory, video_id)
    assert fsspec.filesystem("memory").cat_file(location) == data
    assert not any(in_memory.storage.spool.iterdir())  # the spooled download went with it

    assert in_memory.client.delete(f"/v1/videos/{video_id}").status_code == 200
    assert keys_under(memory_url) == []
    assert in_memory.client.get(f"/v1/videos/{video_id}/content").status_code == 404


def test_a_failed_store_keeps_the_video_open_and_is_tried_again(
    in_memory: Gateway, memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs = in_memory.storage.fs
    original, failures = fs.mv, []

    def flaky_move(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(args)
            raise PermissionError("the bucket said no, once")
        return original(*args, **kwargs)

    monkeypatch.setattr(fs, "mv", flaky_move)
    video_id = in_memory.create()
    for _ in range(1000):
        in_memory.advance(5)
        if failures:
            break
    video = in_memory.client.get(f"/v1/videos/{video_id}").json()
    assert video["status"] == "in_progress" and video["progress"] == 99
    assert keys_under(memory_url) == []  # neither the video nor its temporary key
    assert in_memory.client.get(f"/v1/videos/{video_id}/content").status_code == 409

    assert in_memory.finish(video_id)["status"] == "completed"  # the pause is virtual time
    assert keys_under(memory_url) == [f"{video_id}.mp4"]
    assert len(check_content_and_ranges(in_memory, video_id)) > 1000


def test_retention_removes_the_stored_object_and_expires_at_says_when(
    in_memory: Gateway, memory_url: str
) -> None:
    video_id = in_memory.create()
    video = in_memory.finish(video_id)
    assert video["expires_at"] == video["completed_at"] + 3600
    assert keys_under(memory_url) == [f"{video_id}.mp4"]

    in_memory.advance(3600)
    answer = in_memory.client.get(f"/v1/videos/{video_id}/content")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "video_expired"
    assert keys_under(memory_url) == []
    assert in_memory.client.get(f"/v1/videos/{video_id}").json()["status"] == "completed"


def test_a_folder_is_still_served_by_starlettes_file_response(tmp_path: Path) -> None:
    for gw in gateway_at(tmp_path, str(tmp_path / "videos")):
        video_id = gw.create()
        assert gw.finish(video_id)["status"] == "completed"
        assert gw.row_path(video_id) == str(tmp_path / "videos" / f"{video_id}.mp4")
        check_content_and_ranges(gw, video_id)
        assert gw.client.delete(f"/v1/videos/{video_id}").status_code == 200
        assert not (tmp_path / "videos" / f"{video_id}.mp4").exists()


def test_a_file_url_is_kept_through_fsspec(tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    for gw in gateway_at(tmp_path, f"file://{folder}"):
        video_id = gw.create()
        assert gw.finish(video_id)["status"] == "completed"
        assert isinstance(gw.storage, FsspecStorage)
        assert [p.name for p in folder.iterdir()] == [f"{video_id}.mp4"]
        check_content_and_ranges(gw, video_id)
        assert gw.client.delete(f"/v1/videos/{video_id}").status_code == 200
        assert list(folder.iterdir()) == []


def test_fsspec_storage_reads_through_starlettes_open_file_hook() -> None:
    # StoredFileResponse overrides it; if Starlette drops it, FsspecStorage refuses to start
    # rather than let FileResponse open the URL as a local path.
    assert callable(getattr(FileResponse, "_open_file", None))


# -- settings and trust -------------------------------------------------------------------


def test_a_plain_path_is_a_folder_and_a_url_goes_to_fsspec(tmp_path: Path) -> None:
    assert type(open_storage(str(tmp_path), tmp_path)).__name__ == "FolderStorage"
    assert isinstance(open_storage("memory://x/y", tmp_path), FsspecStorage)


def test_an_unknown_protocol_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"server\.storage"):
        open_storage("nosuchprotocol://bucket/videos", tmp_path)


def test_the_storage_setting_is_refused_from_an_untrusted_file(tmp_path: Path) -> None:
    assert not untrusted_may_set(ServerSettings.model_fields["storage"])
    config = load_config(config=write_config(tmp_path, storage="s3://attacker-bucket/videos"))
    with pytest.raises(ConfigurationError, match=r"server\.\w+, which decides"):
        server_settings(config, trusted=False)


def test_a_storage_url_with_credentials_is_refused_without_echoing_them(
    tmp_path: Path,
) -> None:
    url = f"s3://{FAKE_KEY_ID}:{FAKE_SECRET}@bucket/videos"
    config = load_config(config=write_config(tmp_path, storage=url))
    with pytest.raises(ConfigurationError) as raised:
        server_settings(config)
    assert "may not hold credentials" in str(raised.value)
    assert FAKE_SECRET not in str(raised.value) and FAKE_SECRET not in repr(raised.value)


# -- S3: s3fs against moto's server on 127.0.0.1 ------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the loopback server, with obviously fake credentials in the
    environment, where s3fs (botocore) reads them, and the endpoint pointed at it."""
    import s3fs

    for name, value in {
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    s3fs.S3FileSystem.clear_instance_cache()
    bucket = f"videos-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(bucket)
    yield bucket
    s3fs.S3FileSystem.clear_instance_cache()


def test_a_video_in_s3_is_served_with_ranges_and_deleted_with_it(
    tmp_path: Path, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="videoprovider")
    url = f"s3://{s3_bucket}/gateway/videos"
    for gw in gateway_at(tmp_path, url):
        video_id = gw.create()
        assert gw.finish(video_id)["status"] == "completed"
        assert gw.row_path(video_id) == f"{url}/{video_id}.mp4"
        assert keys_under(url) == [f"{video_id}.mp4"]
        data = check_content_and_ranges(gw, video_id)
        assert fsspec.filesystem("s3").cat_file(f"{url}/{video_id}.mp4") == data
        assert gw.client.delete(f"/v1/videos/{video_id}").status_code == 200
        assert keys_under(url) == []
        assert FAKE_SECRET not in repr(gw.storage)
    assert FAKE_SECRET not in caplog.text


def test_a_missing_bucket_keeps_the_video_open_and_logs_no_secret(
    tmp_path: Path, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="videoprovider")
    url = f"s3://{s3_bucket}-missing/videos"
    for gw in gateway_at(tmp_path, url):
        video_id = gw.create()
        for _ in range(1000):
            gw.advance(5)
            if "trying again" in caplog.text:
                break
        video = gw.client.get(f"/v1/videos/{video_id}").json()
        assert video["status"] == "in_progress"
        assert gw.storage.download_target(video_id).is_file()  # kept for the next try
        assert gw.client.delete(f"/v1/videos/{video_id}").status_code == 200
        assert not gw.storage.download_target(video_id).exists()  # went with its video
    assert "storing video_" in caplog.text
    assert FAKE_SECRET not in caplog.text and FAKE_KEY_ID not in caplog.text


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_the_openai_client_and_ranges_over_real_http_with_s3_storage(
    start_server: StartServer, s3_bucket: str
) -> None:
    openai = pytest.importorskip("openai")
    import httpx

    url = f"s3://{s3_bucket}/real-http"
    # The gateway process inherits the fake AWS_* environment and the loopback endpoint.
    gateway = start_server(storage=url)
    oc = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY_A, max_retries=0)
    video = oc.videos.create_and_poll(model="fake/fake-1", prompt="A lighthouse")
    assert video.status == "completed"
    data = oc.videos.download_content(video.id).read()
    assert keys_under(url) == [f"{video.id}.mp4"]
    assert fsspec.filesystem("s3").cat_file(f"{url}/{video.id}.mp4") == data

    headers = {"Authorization": f"Bearer {KEY_A}", "Range": "bytes=100-199"}
    part = httpx.get(f"{gateway.url}/v1/videos/{video.id}/content", headers=headers)
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"

    assert oc.videos.delete(video.id).deleted
    assert keys_under(url) == []
    assert FAKE_SECRET not in gateway.stderr.read_text()
