"""The models the emulated service serves and what each accepts: the emulator's own table.

Written from the Model Studio API references independently of `catalog.py` (and keyed by
exact model id rather than by family), so that a mistake in the provider's catalogue makes
the emulator refuse what the provider sends, and a test fails, instead of both agreeing on
the same error. Dated snapshot ids (`wan2.7-r2v-2026-06-12`) are served as their base model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GENERATE = "/api/v1/services/aigc/video-generation/video-synthesis"
KEYFRAMES = "/api/v1/services/aigc/image2video/video-synthesis"

P480 = frozenset({"832*480", "480*832", "624*624"})
P720 = frozenset({"1280*720", "720*1280", "960*960", "1088*832", "832*1088"})
P1080 = frozenset({"1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"})
RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4"})


def seconds(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


@dataclass(frozen=True)
class Served:
    """What one model id accepts. `takes` names the input that carries media."""

    size: frozenset[str] = frozenset()
    resolution: frozenset[str] = frozenset()
    ratio: frozenset[str] = frozenset()
    duration: frozenset[int] = frozenset({5})
    takes: str = "text"  # text | img_url | frames | reference_urls | media
    media: frozenset[str] = frozenset()  # input.media item types
    media_required: bool = True  # False: text alone is enough (wan3.0 generates from text too)
    most_references: int = 0
    most_reference_videos: int = 0
    most_reference_images: int | None = None  # None: no cap of its own
    options: frozenset[str] = frozenset()  # audio, shot_type (parameters); template, audio_url
    path: str = GENERATE


def _t2v(size: frozenset[str], duration: frozenset[int] = frozenset({5}), *opts: str) -> Served:
    return Served(size=size, duration=duration, options=frozenset(opts))


def _i2v(res: set[str], duration: frozenset[int] = frozenset({5}), *opts: str) -> Served:
    return Served(
        resolution=frozenset(res), duration=duration, takes="img_url", options=frozenset(opts)
    )


_WAN21_I2V_TURBO = _i2v({"480P", "720P"}, frozenset({3, 4, 5}), "template")
_WAN21_I2V_PLUS = _i2v({"720P"}, frozenset({5}), "template")
_WAN26_R2V = Served(
    size=P720 | P1080,
    duration=seconds(2, 10),
    takes="reference_urls",
    most_references=5,
    most_reference_videos=3,
    options=frozenset({"shot_type"}),
)

SERVED: dict[str, Served] = {
    # text-to-video
    "wanx2.1-t2v-turbo": _t2v(P480 | P720),
    "wan2.1-t2v-turbo": _t2v(P480 | P720),
    "wanx2.1-t2v-plus": _t2v(P720),
    "wan2.1-t2v-plus": _t2v(P720),
    "wan2.2-t2v-plus": _t2v(P480 | P1080),
    "wan2.5-t2v-preview": _t2v(P480 | P720 | P1080, frozenset({5, 10}), "audio_url"),
    "wan2.6-t2v": _t2v(P720 | P1080, seconds(2, 15), "audio_url", "shot_type"),
    "wan2.6-t2v-us": _t2v(P720 | P1080, frozenset({5, 10}), "audio_url", "shot_type"),
    "wan2.7-t2v": Served(
        resolution=frozenset({"720P", "1080P"}),
        ratio=RATIOS,
        duration=seconds(2, 15),
        options=frozenset({"audio_url"}),
    ),
    # image-to-video (first frame)
    "wanx2.1-i2v-turbo": _WAN21_I2V_TURBO,
    "wan2.1-i2v-turbo": _WAN21_I2V_TURBO,
    "wanx2.1-i2v-plus": _WAN21_I2V_PLUS,
    "wan2.1-i2v-plus": _WAN21_I2V_PLUS,
    "wan2.2-i2v-plus": _i2v({"480P", "1080P"}),
    "wan2.2-i2v-flash": _i2v({"480P", "720P", "1080P"}),
    "wan2.5-i2v-preview": _i2v({"480P", "720P", "1080P"}, frozenset({5, 10}), "audio_url"),
    "wan2.6-i2v": _i2v({"720P", "1080P"}, seconds(2, 15), "audio_url", "shot_type"),
    "wan2.6-i2v-flash": _i2v({"720P", "1080P"}, seconds(2, 15), "audio_url", "shot_type", "audio"),
    "wan2.6-i2v-us": _i2v({"720P", "1080P"}, frozenset({5, 10}), "audio_url", "shot_type"),
    "wan2.7-i2v": Served(
        resolution=frozenset({"720P", "1080P"}),
        duration=seconds(2, 15),
        takes="media",
        media=frozenset({"first_frame", "last_frame", "driving_audio", "first_clip"}),
    ),
    # first and last frame
    "wanx2.1-kf2v-plus": Served(
        resolution=frozenset({"720P"}),
        takes="frames",
        options=frozenset({"template"}),
        path=KEYFRAMES,
    ),
    "wan2.2-kf2v-flash": Served(
        resolution=frozenset({"480P", "720P", "1080P"}), takes="frames", path=KEYFRAMES
    ),
    # reference-to-video
    "wan2.6-r2v": _WAN26_R2V,
    "wan2.6-r2v-flash": Served(
        size=_WAN26_R2V.size,
        duration=_WAN26_R2V.duration,
        takes="reference_urls",
        most_references=5,
        most_reference_videos=3,
        options=frozenset({"shot_type", "audio"}),
    ),
    "wan2.7-r2v": Served(
        resolution=frozenset({"720P", "1080P"}),
        ratio=RATIOS,
        duration=seconds(2, 15),
        takes="media",
        media=frozenset({"reference_image", "reference_video"}),
        most_references=5,
        most_reference_videos=5,
    ),
    "wan3.0-video": Served(
        resolution=frozenset({"720P", "1080P"}),
        ratio=RATIOS,
        duration=seconds(2, 15),
        takes="media",
        media=frozenset(
            {"first_frame", "last_frame", "reference_image", "reference_video", "reference_audio"}
        ),
        most_references=20,
        most_reference_videos=5,
        most_reference_images=10,
        media_required=False,
    ),
    # HappyHorse 1.0 (its text-, image- and reference-to-video API references)
    "happyhorse-1.0-t2v": Served(
        resolution=frozenset({"720P", "1080P"}), ratio=RATIOS, duration=seconds(3, 15)
    ),
    "happyhorse-1.0-i2v": Served(
        resolution=frozenset({"720P", "1080P"}),
        duration=seconds(3, 15),
        takes="media",
        media=frozenset({"first_frame"}),
    ),
    "happyhorse-1.0-r2v": Served(
        resolution=frozenset({"720P", "1080P"}),
        ratio=RATIOS,
        duration=seconds(3, 15),
        takes="media",
        media=frozenset({"reference_image"}),
        most_references=9,
    ),
    # video editing: an input video plus instructions
    "wan2.7-videoedit": Served(
        resolution=frozenset({"720P", "1080P"}),
        duration=seconds(2, 15),
        takes="media",
        media=frozenset({"video", "reference_image"}),
    ),
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def served(model: str) -> Served | None:
    """What `model` accepts, or None for a model this emulated service does not serve."""
    return SERVED.get(model) or SERVED.get(_SNAPSHOT.sub("", model))
