"""The Wan model families, what each accepts on the wire, and where each is served, as data.

One row per family; request building and validation (`request.py`) read this table,
`listing.py` renders it for `docs/providers/dashscope.md` (a test keeps them equal), and a
provider-neutral model listing can read it too. The emulator keeps its own table, written
independently, so a mistake here shows up as a test failure. Sources are the official Model
Studio API references (text-to-video, image-to-video, first-and-last-frame,
reference-to-video), the `dashscope` SDK and the Vercel AI SDK's alibaba provider;
`docs/providers/dashscope.md` says which source each uncertain value follows.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

from videoprovider.catalog import ModelInfo, ModelKind

T2V_PATH = "/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/services/aigc/image2video/video-synthesis"  # [SDK aigc/video_synthesis.py L369]

SIZES_480P = ("832*480", "480*832", "624*624")
SIZES_720P = ("1280*720", "720*1280", "960*960", "1088*832", "832*1088")
SIZES_1080P = ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632")
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
TWO_TO_TEN = tuple(range(2, 11))
TWO_TO_FIFTEEN = tuple(range(2, 16))
THREE_TO_FIFTEEN = tuple(range(3, 16))

# Region names as in settings.REGIONS, without the "-workspace" suffix.
ALL_REGIONS = ("singapore", "virginia", "beijing", "hongkong", "frankfurt")
HAPPYHORSE_REGIONS = ("singapore", "beijing")  # the endpoints its references give

Geometry = Literal["size", "resolution", "resolution+ratio"]
# Where media go: none; input.img_url; input.first_frame_url/last_frame_url; input.reference_urls
# (wan2.6 r2v); input.media items (wan2.7 and later).
Image = Literal["none", "img_url", "keyframes", "reference_urls", "media"]
# What the request must carry: t2v text only; i2v a first frame; kf2v two frames; r2v
# reference media; any: whichever the media items allow (wan3.0).
Kind = Literal["t2v", "i2v", "kf2v", "r2v", "any", "edit"]


@dataclass(frozen=True)
class Family:
    """One family of Wan models sharing a wire format and limits."""

    name: str
    models: tuple[str, ...]  # fnmatch patterns, most specific first across the table
    kind: Kind
    path: str
    geometry: Geometry
    sizes: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = (5,)
    prompt_max: int = 800
    negative_prompt_max: int = 500
    image: Image = "none"
    media_types: tuple[str, ...] = ()  # input.media item types this family takes
    references: int = 0  # most reference items (images and videos together)
    reference_videos: int = 0  # of which videos, at most
    reference_images: int = 0  # of which images, at most (0: up to `references`)
    audio_flag: bool = False  # parameters.audio (false: silent video)
    audio_url: bool = False  # driving audio track
    shot_type: bool = False  # parameters.shot_type; only with prompt_extend
    template: bool = False  # input.template (effects)
    regions: tuple[str, ...] = ALL_REGIONS
    unsupported: str | None = None  # why videoprovider refuses this family for now
    defaults: dict[str, Any] = field(default_factory=dict)

    def matches(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    @property
    def silent(self) -> bool:
        """Whether its videos have no sound at all (the wan2.1/2.2 generations); later ones
        always add a soundtrack, with a switch where `audio_flag` says so."""
        return not (self.audio_flag or self.audio_url) and self.image not in (
            "reference_urls",
            "media",
        )


def _media_family(
    name: str, models: tuple[str, ...], kind: Kind, geometry: Geometry, **rest: Any
) -> Family:
    return Family(name, models, kind, T2V_PATH, geometry, **rest)


def _happyhorse(name: str, suffix: str, kind: Kind, geometry: Geometry, **rest: Any) -> Family:
    # What the three HappyHorse 1.0 references share (see FAMILIES).
    return _media_family(
        name,
        (f"happyhorse-1.0-{suffix}",),
        kind,
        geometry,
        resolutions=("720P", "1080P"),
        durations=THREE_TO_FIFTEEN,
        prompt_max=5000,
        image="media",
        regions=HAPPYHORSE_REGIONS,
        **rest,
    )


FAMILIES: tuple[Family, ...] = (
    Family(
        "wan2.1 t2v turbo",
        ("wanx2.1-t2v-turbo", "wan2.1-t2v-turbo"),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_480P + SIZES_720P,
    ),
    Family(
        "wan2.1 t2v plus",
        ("wanx2.1-t2v-plus", "wan2.1-t2v-plus"),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P,
    ),
    Family(
        "wan2.2 t2v",
        ("wan2.2-t2v-*",),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_480P + SIZES_1080P,
    ),
    Family(
        "wan2.5 t2v",
        ("wan2.5-t2v-*",),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_480P + SIZES_720P + SIZES_1080P,
        durations=(5, 10),
        prompt_max=1500,
        audio_url=True,
    ),
    Family(
        "wan2.6 t2v us",
        ("wan2.6-t2v-us",),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P + SIZES_1080P,
        durations=(5, 10),
        prompt_max=1500,
        audio_url=True,
        shot_type=True,
        regions=("virginia",),
    ),
    Family(
        "wan2.6 t2v",
        ("wan2.6-t2v", "wan2.6-t2v-*"),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P + SIZES_1080P,
        durations=TWO_TO_FIFTEEN,
        prompt_max=1500,
        audio_url=True,
        shot_type=True,
    ),
    Family(
        "wan2.7 t2v",
        ("wan2.7-t2v", "wan2.7-t2v-*"),
        "t2v",
        T2V_PATH,
        "resolution+ratio",
        resolutions=("720P", "1080P"),
        ratios=RATIOS,
        durations=TWO_TO_FIFTEEN,
        prompt_max=5000,
        audio_url=True,
    ),
    Family(
        "wan2.1 i2v turbo",
        ("wanx2.1-i2v-turbo", "wan2.1-i2v-turbo"),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("480P", "720P"),
        durations=(3, 4, 5),
        image="img_url",
        template=True,
    ),
    Family(
        "wan2.1 i2v plus",
        ("wanx2.1-i2v-plus", "wan2.1-i2v-plus"),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P",),
        image="img_url",
        template=True,
    ),
    Family(
        "wan2.2 i2v plus",
        ("wan2.2-i2v-plus",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("480P", "1080P"),
        image="img_url",
    ),
    Family(
        "wan2.2 i2v",
        ("wan2.2-i2v-*",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("480P", "720P", "1080P"),
        image="img_url",
    ),
    Family(
        "wan2.5 i2v",
        ("wan2.5-i2v-*",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("480P", "720P", "1080P"),
        durations=(5, 10),
        prompt_max=1500,
        image="img_url",
        audio_url=True,
    ),
    Family(
        "wan2.6 i2v flash",
        ("wan2.6-i2v-flash",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        durations=TWO_TO_FIFTEEN,
        prompt_max=1500,
        image="img_url",
        audio_flag=True,
        audio_url=True,
        shot_type=True,
    ),
    Family(
        "wan2.6 i2v us",
        ("wan2.6-i2v-us",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        durations=(5, 10),
        prompt_max=1500,
        image="img_url",
        audio_url=True,
        shot_type=True,
        regions=("virginia",),
    ),
    Family(
        "wan2.6 i2v",
        ("wan2.6-i2v", "wan2.6-i2v-*"),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        durations=TWO_TO_FIFTEEN,  # [image-to-video guide: "any integer from 2 to 15"]
        prompt_max=1500,
        image="img_url",
        audio_url=True,
        shot_type=True,
    ),
    Family(
        "wan2.6 r2v flash",
        ("wan2.6-r2v-flash",),
        "r2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P + SIZES_1080P,
        durations=TWO_TO_TEN,
        prompt_max=1500,
        image="reference_urls",
        references=5,
        reference_videos=3,
        audio_flag=True,
        shot_type=True,
        regions=("singapore", "beijing"),
    ),
    Family(
        "wan2.6 r2v",
        ("wan2.6-r2v", "wan2.6-r2v-*"),
        "r2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P + SIZES_1080P,
        durations=TWO_TO_TEN,
        prompt_max=1500,
        image="reference_urls",
        references=5,
        reference_videos=3,
        shot_type=True,
    ),
    _media_family(
        "wan2.7 i2v",
        ("wan2.7-i2v", "wan2.7-i2v-*"),
        "i2v",
        "resolution",
        resolutions=("720P", "1080P"),
        durations=TWO_TO_FIFTEEN,
        prompt_max=5000,
        image="media",
        # first_clip: video continuation, from a clip alone or a clip and a last frame
        # [image-to-video 2.7 guide]; an image_url naming a video is sent as one.
        media_types=("first_frame", "last_frame", "driving_audio", "first_clip"),
        audio_url=True,
    ),
    _media_family(
        "wan2.7 r2v",
        ("wan2.7-r2v", "wan2.7-r2v-*"),
        "r2v",
        "resolution+ratio",
        resolutions=("720P", "1080P"),
        ratios=RATIOS,
        durations=TWO_TO_FIFTEEN,
        prompt_max=5000,
        image="media",
        media_types=("reference_image", "reference_video"),
        references=5,
        reference_videos=5,
    ),
    _media_family(
        "wan3.0 video",
        ("wan3.0-video", "wan3.0-video-*"),
        "any",
        "resolution+ratio",
        resolutions=("720P", "1080P"),
        ratios=RATIOS,
        durations=TWO_TO_FIFTEEN,
        prompt_max=20000,
        image="media",
        media_types=("first_frame", "last_frame", "reference_image", "reference_video"),
        references=15,
        reference_videos=5,
        reference_images=10,
    ),
    # HappyHorse 1.0 [HappyHorse text-to-video, image-to-video (first frame) and
    # reference-to-video API references, 2026-04-26]: the wan2.7 `input.media` shape on the
    # same path; 720P/1080P, 3-15 s, in Singapore and Beijing.
    _happyhorse("happyhorse t2v", "t2v", "t2v", "resolution+ratio", ratios=RATIOS),
    _happyhorse("happyhorse i2v", "i2v", "i2v", "resolution", media_types=("first_frame",)),
    _happyhorse(
        "happyhorse r2v",
        "r2v",
        "r2v",
        "resolution+ratio",
        ratios=RATIOS,
        media_types=("reference_image",),
        references=9,
    ),
    Family(
        "wan2.1 kf2v plus",
        ("wanx2.1-kf2v-plus", "wan2.1-kf2v-plus"),
        "kf2v",
        KF2V_PATH,
        "resolution",
        resolutions=("720P",),
        image="keyframes",
        template=True,
    ),
    Family(
        "wan2.2 kf2v",
        ("wan2.2-kf2v-*",),
        "kf2v",
        KF2V_PATH,
        "resolution",
        resolutions=("480P", "720P", "1080P"),
        image="keyframes",
    ),
    Family(
        "video editing",
        (
            "wan2.7-videoedit",
            "wan2.7-videoedit-*",
            "wan2.1-vace-*",
            "wanx2.1-vace-*",
            "happyhorse-1.0-video-edit",
        ),
        "edit",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        unsupported="video editing (an input video plus instructions) is not supported by "
        "videoprovider yet",
    ),
)

# Unknown ids of these generations take the newer `input.media` shape, as the catalogued
# wan2.7 and wan3.0 families do [Vercel AI SDK; LiteLLM].
MEDIA_SHAPE_PREFIXES = ("wan2.7", "wan3", "wan4", "happyhorse")

DEFAULT_MODELS = {
    "t2v": "wan2.6-t2v",
    "i2v": "wan2.6-i2v",
    "kf2v": "wan2.2-kf2v-flash",
    "r2v": "wan2.6-r2v-flash",
}

# Models served in one region only (the Wan "Supported models" tables of each API reference):
# the wanx2.1 ids in Beijing, the plain wan2.1 ids in Singapore.
REGION_ONLY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("wanx2.1-*", ("beijing",)),
    ("wan2.1-*", ("singapore",)),
    ("happyhorse-*", HAPPYHORSE_REGIONS),
)


def family_of(model: str) -> Family | None:
    """The family `model` belongs to, or None for a model this catalogue does not know."""
    return next((f for f in FAMILIES if f.matches(model)), None)


def regions_serving(model: str) -> tuple[str, ...]:
    """Regions documented to serve `model` (all regions when nothing narrower is known)."""
    for pattern, regions in REGION_ONLY:
        if fnmatch.fnmatchcase(model, pattern):
            return regions
    family = family_of(model)
    return family.regions if family else ALL_REGIONS


_KINDS = {
    "t2v": ModelKind.TEXT_TO_VIDEO,
    "i2v": ModelKind.IMAGE_TO_VIDEO,
    "kf2v": ModelKind.KEYFRAMES,
    "r2v": ModelKind.REFERENCE_TO_VIDEO,
    "any": ModelKind.MULTIMODAL,
    "edit": ModelKind.VIDEO_EDIT,
}


def model_infos() -> tuple[ModelInfo, ...]:
    """The catalogue in the provider-neutral shape `videoprovider models` prints.

    Ids with `*` stand for a dated series (`wan2.7-r2v-*`: every dated release).
    """
    return tuple(
        ModelInfo(
            id=model,
            kind=_KINDS[f.kind],
            durations=f.durations,
            resolutions=f.resolutions,
            sizes=f.sizes,
            audio=not f.silent,
            regions=() if regions_serving(model) == ALL_REGIONS else regions_serving(model),
            description=f.name + (f" (refused: {f.unsupported})" if f.unsupported else ""),
            supported=f.unsupported is None,
        )
        for f in FAMILIES
        for model in f.models
    )
