"""Kling's video models and task kinds as data: what each model takes [capability-map].

The capability map of the official docs differs per model: which task kinds (text, image,
several images), which modes (`std` 720P, `pro` 1080P), which durations, whether `cfg_scale`
and `sound` are taken. Requests are checked against this table before anything is sent;
docs/providers/kling.md prints it and says which cells stay unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from videoprovider.catalog import ModelInfo, ModelKind

__all__ = ["KINDS", "MODELS", "Kind", "KlingModel", "model_infos"]


class Kind(str, Enum):
    """A task kind: its create path is `/v1/videos/<path>`, its query path adds the id."""

    TEXT = "t2v"
    IMAGE = "i2v"
    MULTI_IMAGE = "mi2v"

    @property
    def path(self) -> str:
        return KINDS[self]


KINDS = {
    Kind.TEXT: "text2video",
    Kind.IMAGE: "image2video",
    Kind.MULTI_IMAGE: "multi-image2video",
}
MODES = {"720P": "std", "1080P": "pro"}
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MAX_PROMPT = 2500  # characters, prompt and negative_prompt alike [text2video]
MAX_IMAGES = 4  # multi-image2video's image_list [multi-image2video]


@dataclass(frozen=True)
class KlingModel:
    name: str
    kinds: frozenset[Kind]
    modes: tuple[str, ...] = ("std", "pro")
    durations: tuple[int, ...] = (5, 10)
    cfg_scale: bool = False
    sound: bool = False
    sound_modes: tuple[str, ...] = ("std", "pro")  # the modes in which `sound` may be on
    tail_frame: bool = False  # image2video's image_tail
    description: str = ""


_T, _I, _M = Kind.TEXT, Kind.IMAGE, Kind.MULTI_IMAGE
MODELS: dict[str, KlingModel] = {
    m.name: m
    for m in (
        KlingModel("kling-v1", frozenset({_T, _I}), cfg_scale=True, tail_frame=True,
                   description="Kling 1.0."),
        KlingModel("kling-v1-5", frozenset({_I}), cfg_scale=True, tail_frame=True,
                   description="Kling 1.5: image-to-video only."),
        KlingModel("kling-v1-6", frozenset({_T, _I, _M}), cfg_scale=True, tail_frame=True,
                   description="Kling 1.6; the only model of multi-image2video."),
        KlingModel("kling-v2-master", frozenset({_T, _I}),
                   description="Kling 2.0 Master."),
        KlingModel("kling-v2-1", frozenset({_I}), tail_frame=True,
                   description="Kling 2.1: image-to-video only."),
        KlingModel("kling-v2-1-master", frozenset({_T, _I}),
                   description="Kling 2.1 Master."),
        KlingModel("kling-v2-5-turbo", frozenset({_T, _I}), tail_frame=True,
                   description="Kling 2.5 Turbo."),
        KlingModel("kling-v2-6", frozenset({_T, _I}), sound=True, sound_modes=("pro",),
                   tail_frame=True,
                   description="Kling 2.6 (the default): native audio in pro mode."),
        KlingModel("kling-v3", frozenset({_T, _I}), durations=tuple(range(3, 16)), sound=True,
                   tail_frame=True, description="Kling 3.0: 3-15 s, native audio."),
    )
}  # fmt: skip


def _kind(model: KlingModel) -> ModelKind:
    if model.kinds == {Kind.IMAGE}:
        return ModelKind.IMAGE_TO_VIDEO
    return ModelKind.MULTIMODAL if len(model.kinds) > 1 else ModelKind.TEXT_TO_VIDEO


def model_infos() -> tuple[ModelInfo, ...]:
    """The catalogue in core's shape, for `videoprovider models`."""
    resolutions = {mode: res for res, mode in MODES.items()}
    return tuple(
        ModelInfo(
            id=m.name,
            kind=_kind(m),
            durations=m.durations,
            resolutions=tuple(resolutions[mode] for mode in m.modes),
            audio=m.sound,
            description=m.description,
        )
        for m in MODELS.values()
    )
