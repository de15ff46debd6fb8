"""VideoRequest → DashScope submit body, validated per model family before anything is sent.

Rules per family come from `catalog.py`. An impossible combination raises RequestRejected
naming the field, the model and the allowed values; an unknown model gets only generic checks
and a warning, because new Wan models ship often.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

from videoprovider.errors import RequestRejected
from videoprovider.models import VideoRequest

from .catalog import DEFAULT_MODELS, KF2V_PATH, T2V_PATH, Family, family_of

log = logging.getLogger("videoprovider.dashscope")


class UnknownModelWarning(UserWarning):
    """A model name the catalogue does not know was sent with generic checks only."""


class PromptTruncatedWarning(UserWarning):
    """A prompt over the model's limit was cut (truncate_prompt=True)."""


@dataclass(frozen=True)
class Submit:
    """What to send: the path under /api/v1 and the JSON body."""

    path: str
    body: dict[str, Any]


def _reject(field: str, message: str, hint: str | None = None) -> RequestRejected:
    return RequestRejected(
        message, field=field, hint=hint, provider="dashscope", operation="submit"
    )


def _kind(request: VideoRequest) -> str:
    if request.last_frame_url:
        return "kf2v"
    return "i2v" if request.image_url else "t2v"


def build_submit(
    request: VideoRequest, *, default_model: str | None, truncate_prompt: bool
) -> Submit:
    model = request.model or default_model or DEFAULT_MODELS[_kind(request)]
    family = family_of(model)
    if family is None:
        warnings.warn(
            f"DashScope model {model!r} is not in videoprovider's catalogue; sending "
            "it with generic checks only.",
            UnknownModelWarning,
            stacklevel=3,
        )
        return _generic(model, request)
    prompt = _check_prompt(family, model, request, truncate_prompt)
    _check(family, model, request)
    inp: dict[str, Any] = {"prompt": prompt}
    params: dict[str, Any] = {}
    if request.negative_prompt:
        inp["negative_prompt"] = request.negative_prompt
    _media(family, request, inp)
    if request.size:
        params["size"] = request.size
    if request.resolution:
        params["resolution"] = request.resolution
    if request.aspect_ratio:
        params["ratio"] = request.aspect_ratio
    for name in ("duration", "prompt_extend", "watermark", "seed"):
        value = getattr(request, name)
        if value is not None:
            params[name] = value
    if request.audio is not None:
        params["audio"] = request.audio
    _passthrough(request.extra, inp, params)
    body: dict[str, Any] = {"model": model, "input": inp}
    if params:
        body["parameters"] = params
    return Submit(family.path, body)


def _check_prompt(family: Family, model: str, request: VideoRequest, truncate: bool) -> str:
    if request.negative_prompt and len(request.negative_prompt) > family.negative_prompt_max:
        raise _reject(
            "negative_prompt",
            f"negative_prompt has {len(request.negative_prompt)} characters; {model} "
            f"takes at most {family.negative_prompt_max}.",
            "Shorten it.",
        )
    prompt = request.prompt
    if len(prompt) <= family.prompt_max:
        return prompt
    if not truncate:
        # The service would silently cut it, generating something else than asked.
        raise _reject(
            "prompt",
            f"prompt has {len(prompt)} characters; {model} reads at most "
            f"{family.prompt_max} and would silently drop the rest.",
            "Shorten it, or set truncate_prompt = true to cut it knowingly.",
        )
    warnings.warn(
        f"prompt cut from {len(prompt)} to {family.prompt_max} characters for {model}.",
        PromptTruncatedWarning,
        stacklevel=4,
    )
    return prompt[: family.prompt_max]


def _allowed(values: tuple[Any, ...]) -> str:
    return ", ".join(map(str, values))


def _check(family: Family, model: str, r: VideoRequest) -> None:
    geometry = family.geometry
    if r.size and geometry != "size":
        raise _reject(
            "size",
            f"{model} does not take size; it takes resolution "
            f"({_allowed(family.resolutions)})"
            + (f" and aspect_ratio ({_allowed(family.ratios)})." if family.ratios else "."),
            "Use resolution instead.",
        )
    if r.size and r.size not in family.sizes:
        raise _reject(
            "size", f"size {r.size} is not offered by {model}; allowed: {_allowed(family.sizes)}."
        )
    if r.resolution and geometry == "size":
        raise _reject(
            "resolution",
            f"{model} takes an exact size, not resolution; allowed "
            f"sizes: {_allowed(family.sizes)}.",
            "Use size instead.",
        )
    if r.resolution and r.resolution not in family.resolutions:
        raise _reject(
            "resolution",
            f"resolution {r.resolution} is not offered by {model}; "
            f"allowed: {_allowed(family.resolutions)}.",
        )
    if r.aspect_ratio and not family.ratios:
        raise _reject(
            "aspect_ratio",
            f"{model} does not take aspect_ratio"
            + (" (the image sets it)." if family.kind != "t2v" else "; use size."),
        )
    if r.aspect_ratio and r.aspect_ratio not in family.ratios:
        raise _reject(
            "aspect_ratio",
            f"aspect_ratio {r.aspect_ratio} is not offered by "
            f"{model}; allowed: {_allowed(family.ratios)}.",
        )
    if r.duration is not None and r.duration not in family.durations:
        span = family.durations
        allowed = f"{span[0]}-{span[-1]}" if len(span) > 2 else _allowed(span)
        raise _reject(
            "duration",
            f"duration {r.duration} is not offered by {model}; allowed (seconds): {allowed}.",
        )
    if r.audio is not None and not family.audio_flag:
        raise _reject(
            "audio",
            f"{model} has no audio switch"
            + (
                "; its videos are silent."
                if not family.audio_url
                else "; its videos get a soundtrack (or pass audio_url)."
            ),
            "Leave audio unset.",
        )
    if r.audio_url and not family.audio_url:
        raise _reject("audio_url", f"{model} takes no driving audio; its videos are silent.")
    if family.kind == "t2v" and r.image_url:
        raise _reject(
            "image_url",
            f"{model} is a text-to-video model and takes no image.",
            f"Use an image-to-video model such as {DEFAULT_MODELS['i2v']}.",
        )
    if family.kind in ("i2v", "kf2v") and not r.image_url:
        raise _reject("image_url", f"{model} animates an image: image_url is required.")
    if family.kind == "kf2v" and not r.last_frame_url:
        raise _reject(
            "last_frame_url",
            f"{model} interpolates between two keyframes: last_frame_url is required.",
        )
    if r.last_frame_url and family.kind == "i2v" and family.image != "media":
        raise _reject(
            "last_frame_url",
            f"{model} takes a first frame only.",
            f"Use a keyframe model such as {DEFAULT_MODELS['kf2v']}.",
        )


def _media(family: Family, r: VideoRequest, inp: dict[str, Any]) -> None:
    if family.image == "img_url":
        inp["img_url"] = r.image_url
    elif family.image == "keyframes":
        inp["first_frame_url"] = r.image_url
        inp["last_frame_url"] = r.last_frame_url
    if family.image == "media":
        # [SDK v2/resources/videos.py; QC wan27 i2v] wan2.7 i2v: one media item per role.
        media = [{"type": "first_frame", "url": r.image_url}]
        if r.last_frame_url:
            media.append({"type": "last_frame", "url": r.last_frame_url})
        if r.audio_url:
            media.append({"type": "driving_audio", "url": r.audio_url})
        inp["media"] = media
    elif r.audio_url:
        inp["audio_url"] = r.audio_url


def _passthrough(extra: dict[str, Any], inp: dict[str, Any], params: dict[str, Any]) -> None:
    """`extra`: `input`/`parameters` tables merge into those objects; `dashscope` is the
    same, namespaced; any other key becomes a parameter (e.g. shot_type="multi")."""
    namespaced = extra.get("dashscope", {})
    if not isinstance(namespaced, dict):
        raise _reject("extra.dashscope", "extra.dashscope must be a table of fields.")
    top = {k: v for k, v in extra.items() if k != "dashscope"}
    for source in (top, namespaced):
        for key, value in source.items():
            if key not in ("input", "parameters"):
                params[key] = value
            elif isinstance(value, dict):
                (inp if key == "input" else params).update(value)
            else:
                raise _reject(f"extra.{key}", f"extra.{key} must be a table of fields.")


def _generic(model: str, r: VideoRequest) -> Submit:
    inp: dict[str, Any] = {"prompt": r.prompt}
    params: dict[str, Any] = {}
    if r.negative_prompt:
        inp["negative_prompt"] = r.negative_prompt
    if r.image_url and r.last_frame_url:
        inp["first_frame_url"], inp["last_frame_url"] = r.image_url, r.last_frame_url
    elif r.image_url:
        inp["img_url"] = r.image_url
    if r.audio_url:
        inp["audio_url"] = r.audio_url
    for name, wire in (
        ("size", "size"),
        ("resolution", "resolution"),
        ("aspect_ratio", "ratio"),
        ("duration", "duration"),
        ("prompt_extend", "prompt_extend"),
        ("watermark", "watermark"),
        ("seed", "seed"),
        ("audio", "audio"),
    ):
        value = getattr(r, name)
        if value is not None:
            params[wire] = value
    _passthrough(r.extra, inp, params)
    path = KF2V_PATH if "kf2v" in model else T2V_PATH
    body: dict[str, Any] = {"model": model, "input": inp}
    if params:
        body["parameters"] = params
    return Submit(path, body)
