"""VideoRequest → DashScope submit body, validated per model family before anything is sent.

Rules per family come from `catalog.py`. An impossible combination raises RequestRejected
naming the field, the model and the allowed values; fields given through `extra` are checked
against the family as well. An unknown model gets only generic checks and a warning, because
new Wan models ship often.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from videoprovider.errors import RequestRejected
from videoprovider.models import VideoRequest

from .catalog import (
    DEFAULT_MODELS,
    KF2V_PATH,
    MEDIA_SHAPE_PREFIXES,
    T2V_PATH,
    Family,
    family_of,
    regions_serving,
)

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


_VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v")
# Top-level `extra` keys that belong in `input`, not `parameters`.
_INPUT_KEYS = ("template",)


def is_video(url: str | Path) -> bool:
    """Whether a media URL or file names a video (by data: URI type or suffix), else an image."""
    if isinstance(url, Path):
        return url.suffix.lower() in _VIDEO_SUFFIXES
    if url[:5].lower() == "data:":
        return url[5:].lower().startswith("video/")
    return urlsplit(url).path.lower().endswith(_VIDEO_SUFFIXES)


def _kind(request: VideoRequest) -> str:
    if request.reference_urls:
        return "r2v"
    if request.last_frame_url:
        return "kf2v"
    return "i2v" if request.image_url else "t2v"


def build_submit(
    request: VideoRequest,
    *,
    default_model: str | None,
    truncate_prompt: bool,
    region: str | None = None,
) -> Submit:
    """The submit for `request`; `region` (when known) refuses models it does not serve."""
    model = request.model or default_model or DEFAULT_MODELS[_kind(request)]
    if region is not None and region not in regions_serving(model):
        raise _reject(
            "model",
            f"{model} is not served in the {region} region; it is served in "
            f"{_allowed(regions_serving(model))}.",
            "Choose a model this region serves (docs/providers/dashscope.md lists them), or "
            "the region that serves it, with a key of that region.",
        )
    family = family_of(model)
    if family is None:
        warnings.warn(
            f"DashScope model {model!r} is not in videoprovider's catalogue; sending "
            "it with generic checks only.",
            UnknownModelWarning,
            stacklevel=3,
        )
        return _generic(model, request)
    if family.unsupported:
        raise _reject(
            "model",
            f"{model}: {family.unsupported}.",
            "Use a generation model; docs/providers/dashscope.md lists them.",
        )
    prompt = _check_prompt(family, model, request, truncate_prompt)
    _check(family, model, request)
    inp: dict[str, Any] = {"prompt": prompt}
    params: dict[str, Any] = {}
    if request.negative_prompt:
        inp["negative_prompt"] = request.negative_prompt
    _media(family, request, inp)
    _parameters(request, params)
    _passthrough(request.extra, inp, params)
    _check_body(family, model, inp, params)
    body: dict[str, Any] = {"model": model, "input": inp}
    if params:
        body["parameters"] = params
    return Submit(family.path, body)


def _parameters(r: VideoRequest, params: dict[str, Any]) -> None:
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


def _durations(values: tuple[Any, ...]) -> str:
    if len(values) > 2 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return _allowed(values)


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
    if r.resolution and geometry == "size":
        raise _reject(
            "resolution",
            f"{model} takes an exact size, not resolution; allowed "
            f"sizes: {_allowed(family.sizes)}.",
            "Use size instead.",
        )
    if r.aspect_ratio and not family.ratios:
        raise _reject(
            "aspect_ratio",
            f"{model} does not take aspect_ratio"
            + (" (the image sets it)." if family.kind != "t2v" else "; use size."),
        )
    _check_media(family, model, r)


def _check_media(family: Family, model: str, r: VideoRequest) -> None:
    if r.audio_url and not family.audio_url:
        raise _reject(
            "audio_url",
            f"{model} takes no driving audio"
            + ("; its videos are silent." if family.silent else "."),
        )
    if r.reference_urls and family.kind not in ("r2v", "any"):
        raise _reject(
            "reference_urls",
            f"{model} takes no reference media.",
            f"Use a reference-to-video model such as {DEFAULT_MODELS['r2v']}.",
        )
    if family.kind == "r2v" and not r.reference_urls:
        raise _reject(
            "reference_urls",
            f"{model} casts subjects from reference images or videos: reference_urls is required.",
        )
    if r.reference_urls:
        _check_references(family, model, r)
    if family.kind in ("t2v", "r2v") and r.image_url:
        raise _reject(
            "image_url",
            f"{model} takes no first frame"
            + (" (pass images as reference_urls)." if family.kind == "r2v" else "."),
            f"Use an image-to-video model such as {DEFAULT_MODELS['i2v']}.",
        )
    if family.kind in ("i2v", "kf2v") and not r.image_url:
        raise _reject("image_url", f"{model} animates an image: image_url is required.")
    if r.image_url and is_video(r.image_url) and "first_clip" not in family.media_types:
        raise _reject(
            "image_url",
            f"image_url names a video, and {model} does not continue videos; it takes a "
            "first frame image.",
            "Pass an image, or continue the video with wan2.7-i2v.",
        )
    takes_last = family.image == "media" and "last_frame" in family.media_types
    if r.last_frame_url and family.kind == "i2v" and not takes_last:
        raise _reject(
            "last_frame_url",
            f"{model} takes a first frame only.",
            f"Use a keyframe model such as {DEFAULT_MODELS['kf2v']}.",
        )


def _check_references(family: Family, model: str, r: VideoRequest) -> None:
    refs = r.reference_urls
    videos = sum(map(is_video, refs))
    if len(refs) > family.references:
        raise _reject(
            "reference_urls",
            f"{model} takes at most {family.references} references, got {len(refs)}.",
        )
    if videos > family.reference_videos:
        raise _reject(
            "reference_urls",
            f"{model} takes at most {family.reference_videos} reference videos, got {videos}.",
        )
    images = len(refs) - videos
    if family.reference_images and images > family.reference_images:
        raise _reject(
            "reference_urls",
            f"{model} takes at most {family.reference_images} reference images, got {images}.",
        )
    if family.kind == "any" and r.image_url:
        # [wan3.0 media] reference_* items and first/last frames exclude each other.
        raise _reject(
            "reference_urls",
            f"{model} takes either reference media or first/last frames, not both.",
        )


def _check_body(family: Family, model: str, inp: dict[str, Any], params: dict[str, Any]) -> None:
    """Rules on the final body, so a field given through `extra` is checked too."""
    for name, field, allowed in (
        ("size", "size", family.sizes),
        ("resolution", "resolution", family.resolutions),
        ("ratio", "aspect_ratio", family.ratios),
        ("duration", "duration", family.durations),
    ):
        value = params.get(name)
        if value is not None and value not in allowed:
            shown = _durations(allowed) if name == "duration" else _allowed(allowed)
            raise _reject(
                field,
                f"{name} {value} is not offered by {model}; "
                + (f"allowed: {shown}." if allowed else f"{model} takes no {name}."),
            )
    if "audio" in params and not family.audio_flag:
        raise _reject(
            "audio",
            f"{model} has no audio switch"
            + (
                "; its videos are silent."
                if family.silent
                else "; its videos always get a soundtrack"
                + (" (or pass audio_url)." if family.audio_url else ".")
            ),
            "Leave audio unset"
            + ("." if family.kind != "i2v" else ", or use wan2.6-i2v-flash for a silent video."),
        )
    if "shot_type" in params:
        if not family.shot_type:
            raise _reject(
                "shot_type",
                f"{model} takes no shot_type (wan2.6 only); describe the shots in the prompt.",
            )
        if params["shot_type"] not in ("single", "multi"):
            raise _reject(
                "shot_type", f"shot_type must be single or multi, got {params['shot_type']!r}."
            )
        if params.get("prompt_extend") is False:
            raise _reject(
                "shot_type",
                f"{model} applies shot_type only when prompt_extend is on; it is off here.",
                "Leave prompt_extend unset (it defaults to on) or drop shot_type.",
            )
    if "template" in inp and not family.template:
        raise _reject("template", f"{model} takes no effect template.")
    if family.kind == "kf2v" and not inp.get("last_frame_url") and not inp.get("template"):
        raise _reject(
            "last_frame_url",
            f"{model} interpolates between two keyframes: last_frame_url is required "
            "(unless an effect template is given).",
        )


def _media_items(r: VideoRequest) -> list[dict[str, str | Path]]:
    """`input.media` items [SDK v2/resources/videos.py; wan2.7/wan3.0/HappyHorse API
    references]. A video as `image_url` is a first clip to continue (wan2.7-i2v)."""
    items = []
    if r.image_url:
        first = "first_clip" if is_video(r.image_url) else "first_frame"
        items.append({"type": first, "url": r.image_url})
    if r.last_frame_url:
        items.append({"type": "last_frame", "url": r.last_frame_url})
    for url in r.reference_urls:
        kind = "reference_video" if is_video(url) else "reference_image"
        items.append({"type": kind, "url": url})
    if r.audio_url:
        items.append({"type": "driving_audio", "url": r.audio_url})
    return items


def _media(family: Family, r: VideoRequest, inp: dict[str, Any]) -> None:
    if family.image == "media":
        if media := _media_items(r):
            inp["media"] = media
        return
    if family.image == "img_url":
        inp["img_url"] = r.image_url
    elif family.image == "keyframes":
        inp["first_frame_url"] = r.image_url
        if r.last_frame_url:
            inp["last_frame_url"] = r.last_frame_url
    elif family.image == "reference_urls":
        # `reference_video_urls` is the deprecated name [DOC reference-to-video 2.6].
        inp["reference_urls"] = list(r.reference_urls)
    if r.audio_url:
        inp["audio_url"] = r.audio_url


def _passthrough(extra: dict[str, Any], inp: dict[str, Any], params: dict[str, Any]) -> None:
    """`extra`: `input`/`parameters` tables merge into those objects; `dashscope` is the
    same, namespaced; `template` goes to input; any other key becomes a parameter (e.g.
    shot_type="multi")."""
    namespaced = extra.get("dashscope", {})
    if not isinstance(namespaced, dict):
        raise _reject("extra.dashscope", "extra.dashscope must be a table of fields.")
    top = {k: v for k, v in extra.items() if k != "dashscope"}
    for source in (top, namespaced):
        for key, value in source.items():
            if key in _INPUT_KEYS:
                inp[key] = value
            elif key not in ("input", "parameters"):
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
    if model.startswith(MEDIA_SHAPE_PREFIXES):
        if media := _media_items(r):
            inp["media"] = media
    else:
        if r.image_url and r.last_frame_url:
            inp["first_frame_url"], inp["last_frame_url"] = r.image_url, r.last_frame_url
        elif r.image_url:
            inp["img_url"] = r.image_url
        if r.reference_urls:
            inp["reference_urls"] = list(r.reference_urls)
        if r.audio_url:
            inp["audio_url"] = r.audio_url
    _parameters(r, params)
    _passthrough(r.extra, inp, params)
    path = KF2V_PATH if "kf2v" in model else T2V_PATH
    body: dict[str, Any] = {"model": model, "input": inp}
    if params:
        body["parameters"] = params
    return Submit(path, body)
