"""Local media files: checked before anything is sent, uploaded as the official SDK does.

End to end against the emulator, which implements the upload policy, the OSS form upload and
the rule that `oss://` inputs resolve only with the opt-in header and only for their model.
"""

import os
from pathlib import Path

import httpx
import pytest

from videoprovider import RequestRejected, TaskState, VideoClient, VideoRequest
from videoprovider.errors import ProtocolError
from videoprovider_dashscope import upload
from videoprovider_dashscope.emulator import RunningEmulator

from .conftest import MakeProvider

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 64


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(PNG)
    return path


def test_image_to_video_from_a_local_file_end_to_end(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    cat: Path,
    tmp_path: Path,
) -> None:
    video = dashscope_client.generate(
        VideoRequest(prompt="the cat runs", image_url=cat), tmp_path / "cat.mp4"
    )
    assert video.status.state is TaskState.COMPLETED
    service = dashscope_emulator.service
    policy = service.requests_of("upload_policy")
    upload = service.requests_of("oss")
    submit = service.requests_of("submit")
    assert [len(policy), len(upload), len(submit)] == [1, 1, 1]
    assert "authorization" not in upload[0].headers  # the key never goes to the storage host
    sent = submit[0].body["input"]["img_url"]
    assert sent.startswith("oss://") and sent.endswith("/cat.png")
    assert submit[0].headers["x-dashscope-ossresourceresolve"] == "enable"
    stored = service.uploads.files[sent.removeprefix("oss://")]
    assert stored.data == PNG and stored.model == submit[0].body["model"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "does not exist"),
        ("empty.png", b"", "is empty"),
        ("notes.txt", b"hello", "not a file type this field takes"),
        ("huge.png", 11 * 1024 * 1024, "DashScope takes image files up to 10 MB"),
    ],
)
def test_a_bad_local_file_is_refused_before_any_request(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    tmp_path: Path,
    name: str,
    content: bytes | int | None,
    message: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, int):
        with path.open("wb") as f:
            f.truncate(content)  # sparse: large on paper, cheap on disk
    with pytest.raises(RequestRejected, match=message) as info:
        dashscope_client.submit(VideoRequest(prompt="a cat", image_url=path))
    assert info.value.field == "image_url"
    assert dashscope_emulator.service.requests == []


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_a_symlink_to_proc_is_refused_unread_and_unsent(
    dashscope_client: VideoClient,
    dashscope_emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The attack: a file named like an image that points at the process's environment.
    link = tmp_path / "x.png"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(RequestRejected, match="symbolic link") as info:
        dashscope_client.submit(VideoRequest(prompt="a cat", image_url=link))
    assert info.value.field == "image_url"
    # Following the link on purpose finds no media file either, even where the name's
    # suffix is taken (here: none), because /proc's entries are the kernel's, not files.
    monkeypatch.setitem(upload.KINDS, "", "image")
    with pytest.raises(RequestRejected, match="not a regular file"):
        dashscope_client.submit(VideoRequest(prompt="a cat", image_url=link.resolve()))
    assert dashscope_emulator.service.requests == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking_and_unsent(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator, tmp_path: Path
) -> None:
    fifo = tmp_path / "cat.png"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(RequestRejected, match="not a regular file") as info:
        dashscope_client.submit(VideoRequest(prompt="a cat", image_url=fifo))
    assert info.value.field == "image_url"
    assert dashscope_emulator.service.requests == []


def test_the_upload_sends_the_bytes_of_the_file_that_was_checked(
    dashscope_emulator: RunningEmulator, cat: Path, tmp_path: Path
) -> None:
    checked = upload.local_file(cat, "image_url", ("image",))
    assert checked is not None
    try:
        # The name now points elsewhere; the open descriptor still holds the checked file.
        cat.rename(tmp_path / "moved.png")
        cat.symlink_to("/proc/self/environ")
        assert checked.handle.read() == PNG and checked.size == len(PNG)
    finally:
        checked.close()


def test_a_str_path_is_a_url_and_refused_with_the_way_to_pass_a_file(cat: Path) -> None:
    for given in (str(cat), cat.as_uri(), "cat.png"):
        with pytest.raises(ValueError, match=r"image_url.*a str is always a URL.*pathlib\.Path"):
            VideoRequest(prompt="p", image_url=given)
    with pytest.raises(ValueError, match=r"reference_urls\[1\].*pathlib\.Path"):
        VideoRequest(prompt="p", reference_urls=("https://x/a.png", str(cat)))


def test_an_audio_field_takes_no_image(
    dashscope_client: VideoClient, dashscope_emulator: RunningEmulator, cat: Path
) -> None:
    with pytest.raises(RequestRejected, match=r"\.mp3, \.wav"):
        dashscope_client.submit(
            VideoRequest(prompt="a cat", model="wan2.5-i2v-preview", image_url=cat, audio_url=cat)
        )
    assert dashscope_emulator.service.requests == []


def test_the_emulator_resolves_oss_inputs_only_with_the_header_and_for_their_model(
    dashscope_emulator: RunningEmulator, cat: Path
) -> None:
    service = dashscope_emulator.service
    base = dashscope_emulator.base_url
    auth = {"Authorization": "Bearer sk-test-emulator"}
    policy = httpx.get(
        f"{base}/api/v1/uploads",
        params={"action": "getPolicy", "model": "wan2.6-i2v"},
        headers=auth,
    ).json()["data"]
    key = f"{policy['upload_dir']}/cat.png"
    form = {
        "OSSAccessKeyId": policy["oss_access_key_id"],
        "Signature": policy["signature"],
        "policy": policy["policy"],
        "key": key,
    }
    reply = httpx.post(policy["upload_host"], data=form, files={"file": ("cat.png", PNG)})
    assert reply.status_code == 200 and key in service.uploads.files

    def submit(model: str, header: bool) -> httpx.Response:
        headers = {**auth, "X-DashScope-Async": "enable"}
        if header:
            headers["X-DashScope-OssResourceResolve"] = "enable"
        body = {"model": model, "input": {"prompt": "p", "img_url": f"oss://{key}"}}
        path = "/api/v1/services/aigc/video-generation/video-synthesis"
        return httpx.post(f"{base}{path}", json=body, headers=headers)

    assert submit("wan2.6-i2v", header=False).status_code == 400
    assert "uploaded for model wan2.6-i2v" in submit("wan2.5-i2v-preview", header=True).text
    assert submit("wan2.6-i2v", header=True).status_code == 200


def test_an_upload_host_in_clear_text_is_refused_unsent(
    make_provider: MakeProvider, cat: Path
) -> None:
    policy = {
        "data": {
            "upload_host": "http://storage.example.com",
            "upload_dir": "d",
            "policy": "p",
            "signature": "s",
            "oss_access_key_id": "k",
        }
    }
    provider, recorder, _ = make_provider(httpx.Response(200, json=policy))
    import anyio

    with pytest.raises(ProtocolError, match="not https"):
        anyio.run(provider.videoprovider_submit, VideoRequest(prompt="p", image_url=cat))
    assert [r.url.path for r in recorder.requests] == ["/api/v1/uploads"]


def test_a_local_file_survives_the_journal_as_a_path_but_not_as_a_callers_str() -> None:
    from videoprovider.models import LOCAL_FILES_CONTEXT

    request = VideoRequest(prompt="p", image_url=Path("/tmp/cat.png"))
    stored = request.model_dump_json()
    assert '"file:///tmp/cat.png"' in stored
    again = VideoRequest.model_validate_json(stored, context=LOCAL_FILES_CONTEXT)
    assert again.image_url == Path("/tmp/cat.png")
    with pytest.raises(ValueError, match=r"pathlib\.Path"):
        VideoRequest.model_validate_json(stored)  # a caller's JSON: a str is a URL
    with pytest.raises(ValueError, match="image_url"):
        VideoRequest(prompt="p", image_url="ftp://example.com/cat.png")
