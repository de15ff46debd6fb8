"""The Wan model families and what each accepts on the wire, as data.

One row per family; translation and validation (`wire.py`) and the emulator read this table,
and `docs/providers/dashscope.md` prints it (a test keeps them equal). Sources are the
protocol notes (`shared/dashscope-protocol.md` §5): a value marked uncertain there is the
best reading of the SDK and the public docs, not a live check.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

T2V_PATH = "/services/aigc/video-generation/video-synthesis"
KF2V_PATH = "/services/aigc/image2video/video-synthesis"  # [SDK aigc/video_synthesis.py L369]

SIZES_480P = ("832*480", "480*832", "624*624")
SIZES_720P = ("1280*720", "720*1280", "960*960", "1088*832", "832*1088")
SIZES_1080P = ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632")
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")

Geometry = Literal["size", "resolution", "resolution+ratio"]
Image = Literal["none", "img_url", "media", "keyframes"]


@dataclass(frozen=True)
class Family:
    """One family of Wan models sharing a wire format."""

    name: str
    models: tuple[str, ...]  # fnmatch patterns, most specific first across the table
    kind: Literal["t2v", "i2v", "kf2v"]
    path: str
    geometry: Geometry
    sizes: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = (5,)
    prompt_max: int = 800
    negative_prompt_max: int = 500
    image: Image = "none"
    audio_flag: bool = False  # parameters.audio (false: silent video)
    audio_url: bool = False  # driving audio track
    shot_type: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)

    def matches(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


FAMILIES: tuple[Family, ...] = (
    Family(
        "wan2.1/2.2 t2v",
        ("wanx2.1-t2v-*", "wan2.1-t2v-*", "wan2.2-t2v-*"),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_480P + SIZES_720P + SIZES_1080P,
        durations=(5,),
        prompt_max=800,
    ),
    Family(
        "wan2.5 t2v",
        ("wan2.5-t2v-*",),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_480P + SIZES_720P + SIZES_1080P,
        durations=(5, 10),
        prompt_max=2000,
        audio_url=True,
    ),
    Family(
        "wan2.6 t2v",
        ("wan2.6-t2v", "wan2.6-t2v-*"),
        "t2v",
        T2V_PATH,
        "size",
        sizes=SIZES_720P + SIZES_1080P,
        durations=tuple(range(2, 16)),
        prompt_max=1500,
        audio_flag=True,
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
        durations=tuple(range(2, 16)),
        prompt_max=5000,
        audio_url=True,
    ),
    Family(
        "wan2.2 i2v",
        ("wan2.2-i2v-*",),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("480P", "720P", "1080P"),
        durations=(5,),
        prompt_max=800,
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
        prompt_max=2000,
        image="img_url",
        audio_url=True,
    ),
    Family(
        "wan2.6 i2v",
        ("wan2.6-i2v", "wan2.6-i2v-*"),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        durations=tuple(range(2, 16)),
        prompt_max=1500,
        image="img_url",
        audio_flag=True,
        audio_url=True,
        shot_type=True,
    ),
    Family(
        "wan2.7 i2v",
        ("wan2.7-i2v", "wan2.7-i2v-*"),
        "i2v",
        T2V_PATH,
        "resolution",
        resolutions=("720P", "1080P"),
        durations=tuple(range(2, 16)),
        prompt_max=5000,
        image="media",
        audio_url=True,
    ),
    Family(
        "kf2v",
        ("wanx2.1-kf2v-*", "wan2.1-kf2v-*", "wan2.2-kf2v-*"),
        "kf2v",
        KF2V_PATH,
        "resolution",
        resolutions=("480P", "720P", "1080P"),
        durations=(5,),
        prompt_max=800,
        image="keyframes",
    ),
)

DEFAULT_MODELS = {"t2v": "wan2.6-t2v", "i2v": "wan2.6-i2v", "kf2v": "wan2.2-kf2v-flash"}


def family_of(model: str) -> Family | None:
    """The family `model` belongs to, or None for a model this catalogue does not know."""
    return next((f for f in FAMILIES if f.matches(model)), None)


def model_families() -> list[str]:
    return [f.name for f in FAMILIES]


def _span(values: tuple[int, ...]) -> str:
    if len(values) > 2 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ", ".join(map(str, values))


def markdown_table() -> str:
    """The catalogue as the Markdown table in docs/providers/dashscope.md."""
    rows = [
        "| family | models | geometry | allowed | duration (s) | prompt / negative max "
        "| image input | audio | shot_type |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in FAMILIES:
        allowed = ", ".join(f.sizes or f.resolutions)
        if f.ratios:
            allowed += "; ratio " + ", ".join(f.ratios)
        audio = (
            ", ".join(
                x for x, on in (("audio flag", f.audio_flag), ("audio_url", f.audio_url)) if on
            )
            or "silent"
        )
        rows.append(
            f"| {f.name} | {', '.join(f'`{m}`' for m in f.models)} | `{f.geometry}` | {allowed} "
            f"| {_span(f.durations)} | {f.prompt_max} / {f.negative_prompt_max} | {f.image} "
            f"| {audio} | {'yes' if f.shot_type else 'no'} |"
        )
    return "\n".join(rows)
