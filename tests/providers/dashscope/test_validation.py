"""Per-family checks run before anything is sent."""

import warnings

import pytest

from videoprovider import errors
from videoprovider.models import VideoRequest
from videoprovider_dashscope.catalog import FAMILIES, family_of
from videoprovider_dashscope.request import PromptTruncatedWarning, UnknownModelWarning

from .conftest import MakeProvider

pytestmark = pytest.mark.anyio
IMG = "https://cdn.example.com/a.png"

REFUSALS = [
    ({"model": "wan2.5-t2v-preview", "duration": 7}, "duration", "5, 10"),
    ({"model": "wan2.7-t2v", "size": "1280*720"}, "size", "720P, 1080P"),
    ({"model": "wan2.6-t2v", "size": "832*480"}, "size", "1280*720"),
    ({"model": "wan2.6-t2v", "resolution": "720P"}, "resolution", "1920*1080"),
    ({"model": "wan2.7-t2v", "resolution": "480P"}, "resolution", "720P, 1080P"),
    ({"model": "wan2.7-t2v", "aspect_ratio": "21:9"}, "aspect_ratio", "16:9"),
    ({"model": "wan2.6-t2v", "duration": 16}, "duration", "2-15"),
    ({"model": "wan2.2-t2v-plus", "duration": 10}, "duration", "5"),
    ({"model": "wan2.2-t2v-plus", "audio": True}, "audio", "silent"),
    ({"model": "wan2.5-t2v-preview", "audio": False}, "audio", "audio_url"),
    ({"model": "wan2.2-t2v-plus", "audio_url": "https://a/b.mp3"}, "audio_url", "silent"),
    ({"model": "wan2.6-t2v", "image_url": IMG}, "image_url", "wan2.6-i2v"),
    ({"model": "wan2.6-i2v"}, "image_url", "required"),
    ({"model": "wan2.6-i2v", "image_url": IMG, "resolution": "480P"}, "resolution", "720P"),
    ({"model": "wan2.6-i2v", "image_url": IMG, "aspect_ratio": "16:9"}, "aspect_ratio", "image"),
    ({"model": "wan2.2-kf2v-flash", "image_url": IMG}, "last_frame_url", "required"),
    ({"model": "wan2.6-i2v", "image_url": IMG, "last_frame_url": IMG}, "last_frame_url", "kf2v"),
    ({"model": "wan2.6-t2v", "negative_prompt": "n" * 501}, "negative_prompt", "500"),
]


@pytest.mark.parametrize(
    ("fields", "field", "allowed"), REFUSALS, ids=[f"{r[0]['model']}-{r[1]}" for r in REFUSALS]
)
async def test_impossible_combination_is_refused_before_sending(
    make_provider: MakeProvider, fields: dict[str, object], field: str, allowed: str
) -> None:
    provider, recorder, _ = make_provider()
    with pytest.raises(errors.RequestRejected) as info:
        await provider.videoprovider_submit(request=VideoRequest(prompt="p", **fields))
    e = info.value
    assert e.field == field and str(fields["model"]) in str(e) and allowed in str(e)
    assert recorder.requests == []


async def test_over_long_prompt_is_refused_by_default(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider()
    with pytest.raises(errors.RequestRejected, match="1500") as info:
        await provider.videoprovider_submit(
            request=VideoRequest(prompt="x" * 1501, model="wan2.6-t2v")
        )
    assert info.value.field == "prompt" and "truncate_prompt" in str(info.value)
    assert recorder.requests == []


async def test_over_long_prompt_is_cut_with_a_warning_when_asked(
    make_provider: MakeProvider,
) -> None:
    import json

    provider, recorder, _ = make_provider(truncate_prompt=True)
    with pytest.warns(PromptTruncatedWarning, match="1501 to 1500"):
        await provider.videoprovider_submit(
            request=VideoRequest(prompt="x" * 1501, model="wan2.6-t2v")
        )
    assert len(json.loads(recorder.requests[0].content)["input"]["prompt"]) == 1500


async def test_unknown_model_is_sent_with_a_warning(make_provider: MakeProvider) -> None:
    import json

    provider, recorder, _ = make_provider()
    with pytest.warns(UnknownModelWarning, match="wan9.9-t2v"):
        await provider.videoprovider_submit(
            request=VideoRequest(
                prompt="p",
                model="wan9.9-t2v",
                size="100*100",
                duration=99,
                extra={"future_knob": 3},
            )
        )
    assert json.loads(recorder.requests[0].content) == {
        "model": "wan9.9-t2v",
        "input": {"prompt": "p"},
        "parameters": {"size": "100*100", "duration": 99, "future_knob": 3},
    }


async def test_known_model_sends_no_warning(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider()
    # Recorded, not turned into errors: a ResourceWarning from another test's garbage,
    # collected during this await, is not this provider's warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await provider.videoprovider_submit(request=VideoRequest(prompt="p", model="wan2.6-t2v"))
    assert [w for w in caught if issubclass(w.category, UserWarning)] == []


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("wan2.6-t2v", "wan2.6 t2v"),
        ("wan2.6-i2v", "wan2.6 i2v"),
        ("wan2.6-i2v-flash", "wan2.6 i2v flash"),
        ("wan2.6-i2v-us", "wan2.6 i2v us"),
        ("wan2.6-t2v-us", "wan2.6 t2v us"),
        ("wanx2.1-t2v-turbo", "wan2.1 t2v turbo"),
        ("wanx2.1-t2v-plus", "wan2.1 t2v plus"),
        ("wan2.2-t2v-plus", "wan2.2 t2v"),
        ("wanx2.1-i2v-plus", "wan2.1 i2v plus"),
        ("wan2.1-i2v-turbo", "wan2.1 i2v turbo"),
        ("wan2.2-i2v-plus", "wan2.2 i2v plus"),
        ("wan2.2-i2v-flash", "wan2.2 i2v"),
        ("wan2.2-kf2v-flash", "wan2.2 kf2v"),
        ("wanx2.1-kf2v-plus", "wan2.1 kf2v plus"),
        ("wan2.6-r2v", "wan2.6 r2v"),
        ("wan2.6-r2v-flash", "wan2.6 r2v flash"),
        ("wan2.7-r2v-2026-06-12", "wan2.7 r2v"),
        ("wan3.0-video", "wan3.0 video"),
        ("wan2.7-videoedit", "video editing"),
        ("wan2.1-vace-plus", "video editing"),
        ("wan2.7-i2v", "wan2.7 i2v"),
        ("gpt-4o", None),
    ],
)
def test_family_lookup(model: str, family: str | None) -> None:
    found = family_of(model)
    assert (found.name if found else None) == family


def test_every_family_has_data_the_validation_needs() -> None:
    for f in FAMILIES:
        assert f.durations and f.prompt_max > 0
        assert f.sizes if f.geometry == "size" else f.resolutions
        assert bool(f.ratios) == (f.geometry == "resolution+ratio")


def test_doc_shows_the_catalogue_and_every_setting() -> None:
    from pathlib import Path

    from videoprovider.config import settings_table
    from videoprovider_dashscope.listing import markdown_table
    from videoprovider_dashscope.settings import DashScopeSettings

    doc = (Path(__file__).resolve().parents[3] / "docs/providers/dashscope.md").read_text()
    assert markdown_table() in doc
    assert settings_table(DashScopeSettings, "VIDEOPROVIDER_DASHSCOPE_") in doc


VID = "https://cdn.example.com/dancer.mp4"
# Issue 14, part 2: each of these was sent (and refused, or silently cut) by the service.
SERVICE_REFUSES: list[tuple[str, dict[str, object], str, str]] = [
    ("singapore", {"model": "wan2.2-t2v-plus", "size": "1280*720"}, "size", "1920*1080"),
    ("beijing", {"model": "wanx2.1-t2v-turbo", "size": "1920*1080"}, "size", "1280*720"),
    ("beijing", {"model": "wanx2.1-t2v-plus", "size": "832*480"}, "size", "1280*720"),
    (
        "singapore",
        {"model": "wan2.2-i2v-plus", "image_url": IMG, "resolution": "720P"},
        "resolution",
        "480P, 1080P",
    ),
    (
        "beijing",
        {
            "model": "wanx2.1-kf2v-plus",
            "image_url": IMG,
            "last_frame_url": IMG,
            "resolution": "480P",
        },
        "resolution",
        "720P",
    ),
    ("singapore", {"model": "wan2.5-t2v-preview", "prompt": "x" * 1501}, "prompt", "1500"),
    (
        "singapore",
        {"model": "wan2.5-i2v-preview", "image_url": IMG, "prompt": "x" * 1501},
        "prompt",
        "1500",
    ),
    ("singapore", {"model": "wan2.6-t2v", "audio": False}, "audio", "soundtrack"),
    (
        "singapore",
        {"model": "wan2.6-i2v", "image_url": IMG, "audio": False},
        "audio",
        "wan2.6-i2v-flash",
    ),
    (
        "singapore",
        {"model": "wan2.5-t2v-preview", "extra": {"shot_type": "multi"}},
        "shot_type",
        "wan2.6 only",
    ),
    (
        "singapore",
        {"model": "wan2.7-t2v", "extra": {"dashscope": {"parameters": {"shot_type": "multi"}}}},
        "shot_type",
        "wan2.6 only",
    ),
    (
        "singapore",
        {"model": "wan2.6-t2v", "prompt_extend": False, "extra": {"shot_type": "multi"}},
        "shot_type",
        "prompt_extend",
    ),
    ("singapore", {"model": "wan2.6-t2v", "extra": {"template": "flying"}}, "template", "template"),
    (
        "singapore",
        {"model": "wan2.6-i2v", "image_url": IMG, "duration": 16},
        "duration",
        "2-15",
    ),
    ("singapore", {"model": "happyhorse-1.0-t2v", "duration": 2}, "duration", "3-15"),
    (
        "singapore",
        {"model": "happyhorse-1.0-t2v", "resolution": "480P"},
        "resolution",
        "720P, 1080P",
    ),
    (
        "singapore",
        {"model": "happyhorse-1.0-i2v", "image_url": IMG, "last_frame_url": IMG},
        "last_frame_url",
        "first frame only",
    ),
    (
        "singapore",
        {"model": "happyhorse-1.0-r2v", "reference_urls": [VID]},
        "reference_urls",
        "0 reference videos",
    ),
    (
        "singapore",
        {"model": "happyhorse-1.0-r2v", "reference_urls": [IMG] * 10},
        "reference_urls",
        "at most 9",
    ),
    ("virginia", {"model": "happyhorse-1.0-t2v"}, "model", "singapore, beijing"),
    ("singapore", {"model": "happyhorse-1.0-video-edit"}, "model", "video editing"),
    ("singapore", {"model": "wan2.6-i2v", "image_url": VID}, "image_url", "continue videos"),
    ("singapore", {"model": "wan2.6-t2v-us", "duration": 15}, "model", "virginia"),
    ("virginia", {"model": "wan2.6-t2v-us", "duration": 15}, "duration", "5, 10"),
    (
        "beijing",
        {"model": "wanx2.1-i2v-plus", "image_url": IMG, "duration": 3},
        "duration",
        "5",
    ),
    (
        "singapore",
        {"model": "wan2.1-i2v-turbo", "image_url": IMG, "resolution": "1080P"},
        "resolution",
        "480P, 720P",
    ),
    (
        "singapore",
        {"model": "wan2.2-t2v-plus", "extra": {"parameters": {"size": "1280*720"}}},
        "size",
        "832*480",
    ),
    (
        "singapore",
        {"model": "wan2.6-r2v", "reference_urls": [VID], "duration": 12},
        "duration",
        "2-10",
    ),
    (
        "singapore",
        {"model": "wan2.6-r2v", "reference_urls": [VID], "audio": True},
        "audio",
        "soundtrack",
    ),
    ("singapore", {"model": "wan2.6-r2v"}, "reference_urls", "required"),
    (
        "singapore",
        {"model": "wan2.6-r2v-flash", "reference_urls": [IMG] * 6},
        "reference_urls",
        "5",
    ),
    (
        "singapore",
        {"model": "wan2.6-r2v-flash", "reference_urls": [VID] * 4},
        "reference_urls",
        "3",
    ),
    ("singapore", {"model": "wan2.6-t2v", "reference_urls": [IMG]}, "reference_urls", "r2v"),
    ("virginia", {"model": "wan2.6-r2v-flash", "reference_urls": [IMG]}, "model", "singapore"),
    ("singapore", {"model": "wanx2.1-t2v-turbo"}, "model", "beijing"),
    ("beijing", {"model": "wan2.1-i2v-plus", "image_url": IMG}, "model", "singapore"),
    ("singapore", {"model": "wan3.0-video", "reference_urls": [IMG] * 11}, "reference_urls", "10"),
    ("singapore", {"model": "wan2.7-videoedit"}, "model", "video editing"),
    ("singapore", {"model": "wan2.1-vace-plus"}, "model", "video editing"),
    (
        "singapore",
        {"model": "wan3.0-video", "image_url": IMG, "reference_urls": [IMG]},
        "reference_urls",
        "not both",
    ),
]


@pytest.mark.parametrize(
    ("region", "fields", "field", "said"),
    SERVICE_REFUSES,
    ids=[f"{r[1]['model']}-{r[2]}-{i}" for i, r in enumerate(SERVICE_REFUSES)],
)
async def test_what_the_service_refuses_is_refused_before_sending(
    make_provider: MakeProvider, region: str, fields: dict[str, object], field: str, said: str
) -> None:
    provider, recorder, _ = make_provider(region=region)
    request = VideoRequest(**{"prompt": "p", **fields})  # type: ignore[arg-type]
    with pytest.raises(errors.RequestRejected) as info:
        await provider.videoprovider_submit(request=request)
    assert info.value.field == field, str(info.value)
    assert str(fields["model"]) in str(info.value) and said in str(info.value)
    assert recorder.requests == []


async def test_kf2v_last_frame_is_optional_with_a_template(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(region="beijing")
    await provider.videoprovider_submit(
        request=VideoRequest(
            prompt="p", model="wanx2.1-kf2v-plus", image_url=IMG, extra={"template": "hanfu-1"}
        )
    )
    import json

    assert json.loads(recorder.requests[0].content)["input"] == {
        "prompt": "p",
        "first_frame_url": IMG,
        "template": "hanfu-1",
    }


async def test_a_host_we_cannot_place_skips_the_region_rule(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(base_url="https://gateway.example.com/api/v1")
    await provider.videoprovider_submit(request=VideoRequest(prompt="p", model="wanx2.1-t2v-turbo"))
    assert len(recorder.requests) == 1


def test_the_catalogue_listing_shows_every_family_and_its_regions() -> None:
    from videoprovider_dashscope.listing import markdown_table

    table = markdown_table()
    for family in FAMILIES:
        assert f"| {family.name} |" in table
    assert "virginia |" in table and "refused: video editing" in table
