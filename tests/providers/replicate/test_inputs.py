"""VideoRequest → a model's input, checked against its own schema; the schema cache."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import RequestRejected, VideoRequest
from videoprovider_replicate.emulator.models import ACME, WAN
from videoprovider_replicate.inputs import build_input
from videoprovider_replicate.schemas import ModelSchema, SchemaCache

WAN_SCHEMA = ModelSchema.from_openapi("a" * 64, WAN)
ACME_SCHEMA = ModelSchema.from_openapi("5" * 64, ACME)


def test_refs_are_resolved_into_enums() -> None:
    assert WAN_SCHEMA.inputs["duration"]["enum"] == [5, 10]
    assert WAN_SCHEMA.inputs["duration"]["default"] == 5
    assert WAN_SCHEMA.required == {"prompt"}


def test_request_fields_map_onto_the_models_own_input_names() -> None:
    request = VideoRequest(
        prompt="a fox",
        image_url="https://example.com/a.png",
        last_frame_url="https://example.com/b.png",
        resolution="720P",
        aspect_ratio="9:16",
        audio=True,
        duration=8,
        extra={"camera": "dolly in"},
    )
    assert build_input(request, ACME_SCHEMA, "acme/keyframes") == {
        "prompt": "a fox",
        "first_frame_image": "https://example.com/a.png",
        "last_frame_image": "https://example.com/b.png",
        "resolution": "720p",  # the model's spelling of VideoRequest's 720P
        "aspect_ratio": "9:16",
        "generate_audio": True,
        "duration": 8,
        "camera": "dolly in",
    }


@pytest.mark.parametrize(
    ("request_fields", "field", "says"),
    [
        ({"image_url": Path("/home/me/cat.png")}, "image_url", "cannot upload yet"),
        ({"reference_urls": ["https://x/a.png"]}, "reference_urls", "no input for reference_urls"),
        ({"duration": 7}, "duration", "Allowed: 5, 10"),
        ({"size": "1024*1024"}, "size", "'1280*720'"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio", "no input for aspect_ratio"),
        ({"extra": {"fps": 24}}, "extra.fps", "unknown input 'fps'"),
        ({"extra": {"seed": "x"}}, "extra.seed", "type integer"),
    ],
)
def test_schema_refusals_name_the_field_and_what_is_allowed(
    request_fields: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(RequestRejected) as info:
        build_input(VideoRequest(prompt="a fox", **request_fields), WAN_SCHEMA, "wan")
    assert info.value.field == field
    assert says in str(info.value)


def test_out_of_range_and_missing_required_inputs_are_refused() -> None:
    with pytest.raises(RequestRejected, match="out of range") as info:
        build_input(VideoRequest(prompt="a", duration=20, extra={"camera": "x"}), ACME_SCHEMA, "m")
    assert "2 to 12" in str(info.value)
    with pytest.raises(RequestRejected, match="requires input 'camera'") as info:
        build_input(VideoRequest(prompt="a"), ACME_SCHEMA, "m")
    assert info.value.field == "camera"


def test_schemas_are_cached_on_disk_across_instances(tmp_path: Path) -> None:
    SchemaCache(tmp_path, ttl=100).put("wan-video/wan-2.5-t2v", WAN_SCHEMA, now=1000)
    fresh = SchemaCache(tmp_path, ttl=100)
    assert fresh.get("wan-video/wan-2.5-t2v", 1050, pinned=False) == WAN_SCHEMA
    assert SchemaCache(tmp_path, ttl=100).get("wan-video/wan-2.5-t2v", 1200, pinned=False) is None
    # A pinned version never changes, so its schema does not go stale.
    assert SchemaCache(tmp_path, ttl=100).get("wan-video/wan-2.5-t2v", 9999, pinned=True)


def test_a_damaged_cache_file_is_a_miss(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path, ttl=100)
    cache.put("m/n", WAN_SCHEMA, now=0)
    for path in tmp_path.iterdir():
        path.write_text("{not json")
    assert SchemaCache(tmp_path, ttl=100).get("m/n", 1, pinned=False) is None


def test_memory_only_cache_writes_nothing(tmp_path: Path) -> None:
    cache = SchemaCache(None, ttl=100)
    cache.put("m/n", WAN_SCHEMA, now=0)
    assert cache.get("m/n", 1, pinned=False) == WAN_SCHEMA
    assert not list(tmp_path.iterdir())


@given(
    allowed=st.lists(st.integers(1, 600), min_size=1, max_size=5, unique=True),
    duration=st.integers(1, 600),
)
def test_a_duration_passes_exactly_when_the_enum_allows_it(
    allowed: list[int], duration: int
) -> None:
    schema = ModelSchema(None, {"prompt": {"type": "string"}, "duration": {"enum": allowed}})
    request = VideoRequest(prompt="a", duration=duration)
    if duration in allowed:
        assert build_input(request, schema, "m")["duration"] == duration
    else:
        with pytest.raises(RequestRejected):
            build_input(request, schema, "m")


@given(low=st.integers(0, 100), span=st.integers(0, 100), seed=st.integers(0, 300))
def test_a_seed_passes_exactly_when_in_range(low: int, span: int, seed: int) -> None:
    spec = {"type": "integer", "minimum": low, "maximum": low + span}
    schema = ModelSchema(None, {"prompt": {"type": "string"}, "seed": spec})
    request = VideoRequest(prompt="a", seed=seed)
    if low <= seed <= low + span:
        assert build_input(request, schema, "m")["seed"] == seed
    else:
        with pytest.raises(RequestRejected, match="out of range"):
            build_input(request, schema, "m")
