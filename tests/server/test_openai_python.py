"""The official `openai` Python client, unchanged but for base_url and api_key, against a
real gateway process."""

from __future__ import annotations

import pytest

from .conftest import KEY_A, StartServer

openai = pytest.importorskip("openai")
# The openai clients mark their videos resource deprecated since OpenAI closed its service.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def client(url: str, key: str = KEY_A) -> openai.OpenAI:
    # No retries: a test sees each answer as the gateway gave it.
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_create_and_poll_download_list_delete(start_server: StartServer) -> None:
    oc = client(start_server().url)
    video = oc.videos.create_and_poll(
        model="fake/fake-1", prompt="A lighthouse at dawn", seconds="4", size="1280x720"
    )
    assert (video.status, video.progress, video.object) == ("completed", 100, "video")
    assert (video.seconds, video.size, video.prompt) == ("4", "1280x720", "A lighthouse at dawn")
    assert video.model == "fake/fake-1"
    assert video.completed_at is not None and video.expires_at is not None
    assert video.expires_at > video.completed_at >= video.created_at

    content = oc.videos.download_content(video.id, variant="video")
    data = content.read()
    assert data[4:8] == b"ftyp"

    assert oc.videos.retrieve(video.id).status == "completed"
    listed = oc.videos.list(limit=10)
    assert [v.id for v in listed.data] == [video.id]

    deleted = oc.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        oc.videos.retrieve(video.id)


def test_create_answers_queued_at_once(start_server: StartServer) -> None:
    oc = client(start_server().url)
    video = oc.videos.create(prompt="A cat", model="fake/fake-1")
    assert video.status == "queued"
    assert video.id.startswith("video_")


def test_multipart_input_reference_is_accepted(start_server: StartServer) -> None:
    oc = client(start_server().url)
    video = oc.videos.create(
        prompt="Animate this", model="fake/fake-1", input_reference=("first.png", PNG, "image/png")
    )
    assert video.status == "queued"


def test_an_upload_that_is_no_image_is_refused_naming_the_field(
    start_server: StartServer,
) -> None:
    oc = client(start_server().url)
    with pytest.raises(openai.BadRequestError) as caught:
        oc.videos.create(prompt="x", input_reference=("a.txt", b"hello", "text/plain"))
    assert caught.value.body["param"] == "input_reference"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "1280*720"}, "size"),
        ({"seconds": "four"}, "seconds"),
        ({"seconds": "9999"}, "seconds"),
        ({"model": "sora-2"}, "model"),
        ({"prompt": "   "}, "prompt"),
    ],
)
def test_bad_fields_are_refused_before_anything_is_sent(
    start_server: StartServer, fields: dict[str, str], param: str
) -> None:
    oc = client(start_server().url)
    with pytest.raises(openai.BadRequestError) as caught:
        oc.videos.create(**{"prompt": "A cat", **fields})  # type: ignore[arg-type]
    error = caught.value.body
    assert error["param"] == param, error  # type: ignore[index]
    assert error["type"] == "invalid_request_error"  # type: ignore[index]
    assert oc.videos.list().data == []


def test_list_pages_with_after_and_order(start_server: StartServer) -> None:
    oc = client(start_server().url)
    made = [oc.videos.create(prompt=f"clip {i}").id for i in range(5)]
    newest_first = [v.id for v in oc.videos.list(limit=2)]  # the client follows the pages
    assert newest_first == made[::-1]
    page = oc.videos.list(limit=2, order="asc")
    assert [v.id for v in page.data] == made[:2] and page.has_more
    second = oc.videos.list(limit=2, order="asc", after=page.data[-1].id)
    assert [v.id for v in second.data] == made[2:4]


def test_delete_cancels_a_running_task(start_server: StartServer) -> None:
    oc = client(start_server().url)
    video = oc.videos.create(
        prompt="never ends", extra_body={"extra": {"fake": {"scenario": "stuck"}}}
    )
    assert oc.videos.delete(video.id).deleted
    with pytest.raises(openai.NotFoundError):
        oc.videos.retrieve(video.id)


def test_a_failed_task_carries_its_error(start_server: StartServer) -> None:
    oc = client(start_server().url)
    video = oc.videos.create_and_poll(
        prompt="fails", extra_body={"extra": {"fake": {"scenario": "fail"}}}
    )
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "FakeFailure"
    with pytest.raises(openai.APIStatusError) as caught:
        oc.videos.download_content(video.id)
    assert caught.value.status_code == 400


def test_aliases_from_the_config_select_provider_and_model(start_server: StartServer) -> None:
    oc = client(start_server('[server.models]\n"house-style" = "fake/fake-9"\n').url)
    video = oc.videos.create(prompt="A cat", model="house-style")
    assert video.model == "house-style"
    assert video.model_extra and video.model_extra["task"].startswith("fake:")
