"""What leaves the client for each model family: method, path, headers and the JSON body.

Expected bodies are written from the protocol notes (shared/dashscope-protocol.md §4-5 and the
captured SDK requests CAP#3, CAP#7, CAP#9, CAP#10), not from this provider's own output.
"""

import json
from typing import Any

import pytest

from videoprovider.models import VideoRequest

from .conftest import KEY, MakeProvider

pytestmark = pytest.mark.anyio

T2V = "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/video-generation/video-synthesis"
KF2V = "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/image2video/video-synthesis"
IMG = "https://cdn.example.com/first.png"
LAST = "https://cdn.example.com/last.png"
AUDIO = "https://cdn.example.com/voice.mp3"
CLIP = "https://cdn.example.com/first-clip.mp4"
VID = "https://cdn.example.com/dancer.mov"

CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "wan2.1 t2v",
        {"model": "wan2.1-t2v-turbo", "size": "832*480", "duration": 5, "seed": 42},
        T2V,
        {
            "model": "wan2.1-t2v-turbo",
            "input": {"prompt": "P"},
            "parameters": {"size": "832*480", "duration": 5, "seed": 42},
        },
    ),
    (
        "wan2.5 t2v with driving audio and negative prompt in input",
        {
            "model": "wan2.5-t2v-preview",
            "size": "1920*1080",
            "duration": 10,
            "negative_prompt": "blur",
            "audio_url": AUDIO,
        },
        T2V,
        {
            "model": "wan2.5-t2v-preview",
            "input": {"prompt": "P", "negative_prompt": "blur", "audio_url": AUDIO},
            "parameters": {"size": "1920*1080", "duration": 10},
        },
    ),
    (
        "wan2.6 t2v as captured (CAP#3)",
        {
            "model": "wan2.6-t2v",
            "size": "1920*1080",
            "duration": 15,
            "prompt_extend": True,
            "watermark": True,
            "seed": 7,
            "extra": {"shot_type": "multi"},
        },
        T2V,
        {
            "model": "wan2.6-t2v",
            "input": {"prompt": "P"},
            "parameters": {
                "size": "1920*1080",
                "duration": 15,
                "shot_type": "multi",
                "prompt_extend": True,
                "watermark": True,
                "seed": 7,
            },
        },
    ),
    (
        "wan2.7 t2v: resolution + ratio, no size",
        {"model": "wan2.7-t2v", "resolution": "720P", "aspect_ratio": "9:16", "duration": 8},
        T2V,
        {
            "model": "wan2.7-t2v",
            "input": {"prompt": "P"},
            "parameters": {"resolution": "720P", "ratio": "9:16", "duration": 8},
        },
    ),
    (
        "wan2.6 i2v-flash as captured (CAP#7, which sent audio to wan2.6-i2v)",
        {
            "model": "wan2.6-i2v-flash",
            "image_url": IMG,
            "resolution": "1080P",
            "duration": 5,
            "prompt_extend": True,
            "audio": False,
        },
        T2V,
        {
            "model": "wan2.6-i2v-flash",
            "input": {"prompt": "P", "img_url": IMG},
            "parameters": {
                "resolution": "1080P",
                "duration": 5,
                "prompt_extend": True,
                "audio": False,
            },
        },
    ),
    (
        "wan2.2 i2v",
        {"model": "wan2.2-i2v-flash", "image_url": IMG, "resolution": "480P"},
        T2V,
        {
            "model": "wan2.2-i2v-flash",
            "input": {"prompt": "P", "img_url": IMG},
            "parameters": {"resolution": "480P"},
        },
    ),
    (
        "wan2.7 i2v uses media[] (CAP#9)",
        {
            "model": "wan2.7-i2v",
            "image_url": IMG,
            "last_frame_url": LAST,
            "audio_url": AUDIO,
            "resolution": "1080P",
        },
        T2V,
        {
            "model": "wan2.7-i2v",
            "input": {
                "prompt": "P",
                "media": [
                    {"type": "first_frame", "url": IMG},
                    {"type": "last_frame", "url": LAST},
                    {"type": "driving_audio", "url": AUDIO},
                ],
            },
            "parameters": {"resolution": "1080P"},
        },
    ),
    (
        "wan2.7 i2v continues a video given as image_url: a first_clip",
        {"model": "wan2.7-i2v", "image_url": CLIP, "last_frame_url": LAST, "duration": 12},
        T2V,
        {
            "model": "wan2.7-i2v",
            "input": {
                "prompt": "P",
                "media": [
                    {"type": "first_clip", "url": CLIP},
                    {"type": "last_frame", "url": LAST},
                ],
            },
            "parameters": {"duration": 12},
        },
    ),
    (
        "happyhorse t2v: resolution and ratio",
        {
            "model": "happyhorse-1.0-t2v",
            "resolution": "720P",
            "aspect_ratio": "16:9",
            "duration": 5,
        },
        T2V,
        {
            "model": "happyhorse-1.0-t2v",
            "input": {"prompt": "P"},
            "parameters": {"resolution": "720P", "ratio": "16:9", "duration": 5},
        },
    ),
    (
        "happyhorse i2v: its first frame in input.media",
        {"model": "happyhorse-1.0-i2v", "image_url": IMG, "resolution": "720P", "duration": 5},
        T2V,
        {
            "model": "happyhorse-1.0-i2v",
            "input": {"prompt": "P", "media": [{"type": "first_frame", "url": IMG}]},
            "parameters": {"resolution": "720P", "duration": 5},
        },
    ),
    (
        "happyhorse r2v: reference images in input.media",
        {"model": "happyhorse-1.0-r2v", "reference_urls": [IMG, LAST], "duration": 15},
        T2V,
        {
            "model": "happyhorse-1.0-r2v",
            "input": {
                "prompt": "P",
                "media": [
                    {"type": "reference_image", "url": IMG},
                    {"type": "reference_image", "url": LAST},
                ],
            },
            "parameters": {"duration": 15},
        },
    ),
    (
        "kf2v goes to the image2video path (CAP#10)",
        {
            "model": "wan2.2-kf2v-flash",
            "image_url": IMG,
            "last_frame_url": LAST,
            "resolution": "720P",
        },
        KF2V,
        {
            "model": "wan2.2-kf2v-flash",
            "input": {"prompt": "P", "first_frame_url": IMG, "last_frame_url": LAST},
            "parameters": {"resolution": "720P"},
        },
    ),
    (
        "wan2.6 r2v sends reference_urls (DOC reference-to-video 2.6)",
        {
            "model": "wan2.6-r2v-flash",
            "reference_urls": [VID, IMG],
            "size": "1280*720",
            "duration": 10,
            "audio": False,
            "extra": {"shot_type": "multi"},
        },
        T2V,
        {
            "model": "wan2.6-r2v-flash",
            "input": {"prompt": "P", "reference_urls": [VID, IMG]},
            "parameters": {
                "size": "1280*720",
                "duration": 10,
                "audio": False,
                "shot_type": "multi",
            },
        },
    ),
    (
        "wan2.7 r2v (dated id) sends media references in order",
        {
            "model": "wan2.7-r2v-2026-06-12",
            "reference_urls": [IMG, VID],
            "resolution": "720P",
            "aspect_ratio": "9:16",
        },
        T2V,
        {
            "model": "wan2.7-r2v-2026-06-12",
            "input": {
                "prompt": "P",
                "media": [
                    {"type": "reference_image", "url": IMG},
                    {"type": "reference_video", "url": VID},
                ],
            },
            "parameters": {"resolution": "720P", "ratio": "9:16"},
        },
    ),
    (
        "wan3.0 takes first and last frames as media",
        {"model": "wan3.0-video", "image_url": IMG, "last_frame_url": LAST},
        T2V,
        {
            "model": "wan3.0-video",
            "input": {
                "prompt": "P",
                "media": [
                    {"type": "first_frame", "url": IMG},
                    {"type": "last_frame", "url": LAST},
                ],
            },
        },
    ),
    (
        "extra input/parameters tables pass through",
        {
            "model": "wan2.1-i2v-turbo",
            "image_url": IMG,
            "extra": {"input": {"template": "flying"}, "dashscope": {"parameters": {"x": 1}}},
        },
        T2V,
        {
            "model": "wan2.1-i2v-turbo",
            "input": {"prompt": "P", "img_url": IMG, "template": "flying"},
            "parameters": {"x": 1},
        },
    ),
]


@pytest.mark.parametrize(("name", "fields", "url", "body"), CASES, ids=[c[0] for c in CASES])
async def test_submit_wire_format(
    make_provider: MakeProvider, name: str, fields: dict[str, Any], url: str, body: dict[str, Any]
) -> None:
    provider, recorder, _ = make_provider()
    task = await provider.videoprovider_submit(request=VideoRequest(prompt="P", **fields))
    assert task.task_id == "t-1" and task.provider == "dashscope" and task.request_id == "r-1"
    [sent] = recorder.requests
    assert sent.method == "POST" and str(sent.url) == url
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-dashscope-async"] == "enable"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith("videoprovider-dashscope/")
    assert "x-dashscope-workspace" not in sent.headers
    assert json.loads(sent.content) == body


async def test_no_sdk_1x_extras_and_no_empty_parameters(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider()
    await provider.videoprovider_submit(request=VideoRequest(prompt="P", model="wan2.6-t2v"))
    assert json.loads(recorder.requests[0].content) == {
        "model": "wan2.6-t2v",
        "input": {"prompt": "P"},
    }


async def test_default_models_by_kind(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider()
    await provider.videoprovider_submit(request=VideoRequest(prompt="P"))
    await provider.videoprovider_submit(request=VideoRequest(prompt="P", image_url=IMG))
    await provider.videoprovider_submit(
        request=VideoRequest(prompt="P", image_url=IMG, last_frame_url=LAST)
    )
    assert [json.loads(r.content)["model"] for r in recorder.requests] == [
        "wan2.6-t2v",
        "wan2.6-i2v",
        "wan2.2-kf2v-flash",
    ]


async def test_configured_model_is_the_default(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(model="wan2.5-t2v-preview")
    await provider.videoprovider_submit(request=VideoRequest(prompt="P"))
    assert json.loads(recorder.requests[0].content)["model"] == "wan2.5-t2v-preview"


async def test_poll_is_a_get_on_tasks(make_provider: MakeProvider) -> None:
    from .conftest import task_reply

    provider, recorder, _ = make_provider(task_reply("RUNNING"), workspace_id="ws-1")
    await provider.videoprovider_status(task_id="t-1")
    [sent] = recorder.requests
    assert sent.method == "GET"
    assert str(sent.url) == "https://dashscope-intl.aliyuncs.com/api/v1/tasks/t-1"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["x-dashscope-workspace"] == "ws-1"
    assert "x-dashscope-async" not in sent.headers and sent.content == b""


async def test_unknown_wan27_model_gets_the_media_shape(make_provider: MakeProvider) -> None:
    from videoprovider_dashscope.request import UnknownModelWarning

    provider, recorder, _ = make_provider()
    with pytest.warns(UnknownModelWarning):
        await provider.videoprovider_submit(
            request=VideoRequest(prompt="P", model="wan2.7-s2v-preview", image_url=IMG)
        )
    assert json.loads(recorder.requests[0].content)["input"] == {
        "prompt": "P",
        "media": [{"type": "first_frame", "url": IMG}],
    }


async def test_frankfurt_workspace_domain(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(region="frankfurt-workspace", workspace_id="ws-1")
    await provider.videoprovider_submit(request=VideoRequest(prompt="P", model="wan2.6-t2v"))
    assert str(recorder.requests[0].url) == (
        "https://ws-1.eu-central-1.maas.aliyuncs.com/api/v1/services/aigc/video-generation/"
        "video-synthesis"
    )
