"""A `VideoRequest` checked against the catalogue and turned into a create call's body.

Everything refused here is refused before any request, naming the field and what it may be.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from videoprovider.errors import RequestRejected
from videoprovider.localfiles import open_checked
from videoprovider.models import VideoRequest

from .catalog import ASPECT_RATIOS, MAX_IMAGES, MAX_PROMPT, MODELS, MODES, Kind, KlingModel

__all__ = ["EXTERNAL_ID", "build_create", "kind_of"]

PROVIDER = "kling"
EXTERNAL_ID = "external_task_id"
_OWN_ID = re.compile(r"[A-Za-z0-9_-]{1,60}")
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # image and image_tail [image2video]
# `extra` keys passed through to the body (checked here), and what each is.
EXTRAS = {
    "cfg_scale": "a number from 0 to 1 (models with cfg_scale only)",
    "mode": "std or pro",
    EXTERNAL_ID: "your own task id, unique in the account",
    "camera_control": "an object, as the docs define it",
}


def _reject(message: str, field: str, hint: str | None = None) -> RequestRejected:
    return RequestRejected(message, field=field, hint=hint, provider=PROVIDER, operation="submit")


def kind_of(request: VideoRequest) -> Kind:
    if request.reference_urls:
        return Kind.MULTI_IMAGE
    return Kind.IMAGE if request.image_url else Kind.TEXT


def model_of(name: str) -> KlingModel:
    model = MODELS.get(name)
    if model is None:
        raise _reject(
            f"model {name!r} is not a Kling video model; use one of {', '.join(MODELS)}.",
            "model",
            "`videoprovider models` lists them with what each takes.",
        )
    return model


def _image(value: str | Path, field: str) -> str:
    """A URL as it is, a data: URI or a local file (a `Path`) as the bare Base64 Kling wants."""
    if isinstance(value, Path):
        opened = open_checked(value, field, MAX_IMAGE_BYTES, "Kling takes images")
        try:
            return base64.b64encode(opened.handle.read(opened.size)).decode()
        finally:
            opened.close()
    scheme = urlsplit(value).scheme.lower()
    if scheme in ("http", "https"):
        return value
    if scheme == "data":
        head, _, data = value.partition(",")
        if ";base64" not in head or not data:
            raise _reject(f"{field} is a data: URI without Base64 data.", field)
        return data
    if scheme == "oss":
        raise _reject(f"{field}: Kling cannot read oss:// URLs; give an https URL.", field)
    raise _reject(
        f"{field} has a URL scheme Kling cannot read ({scheme!r}); give an https URL, a data: "
        "URI, or a local file as pathlib.Path.",
        field,
    )


def _common(request: VideoRequest, model: KlingModel, kind: Kind) -> dict[str, Any]:
    if kind not in model.kinds:
        takes = ", ".join(k.path for k in sorted(model.kinds, key=lambda k: k.value))
        raise _reject(
            f"{model.name} does not do {kind.path}; it takes {takes}.",
            "model",
            "Pick a model that takes this input (`videoprovider models`).",
        )
    for name, value in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        if value is not None and len(value) > MAX_PROMPT:
            raise _reject(f"{name} has {len(value)} characters; Kling takes {MAX_PROMPT}.", name)
    for name in ("seed", "size", "audio_url", "prompt_extend", "watermark"):
        if getattr(request, name) not in (None, ()):
            raise _reject(f"{name} is not a Kling video parameter; leave it unset.", name)
    body: dict[str, Any] = {"model_name": model.name, "prompt": request.prompt}
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    mode = request.extra.get("mode")
    if request.resolution is not None:
        if request.resolution not in MODES:
            raise _reject(
                f"resolution {request.resolution} is not offered; Kling's modes are 720P "
                "(std) and 1080P (pro).",
                "resolution",
            )
        if mode is not None and mode != MODES[request.resolution]:
            raise _reject("resolution and extra.mode disagree; set only one.", "resolution")
        mode = MODES[request.resolution]
    if mode is not None:
        if mode not in model.modes:
            raise _reject(
                f"mode {mode!r} is not offered by {model.name}; use {' or '.join(model.modes)}.",
                "mode",
            )
        body["mode"] = mode
    if request.duration is not None:
        if request.duration not in model.durations:
            allowed = ", ".join(map(str, model.durations))
            raise _reject(
                f"duration {request.duration} is not offered by {model.name}; use {allowed}.",
                "duration",
            )
        body["duration"] = str(request.duration)
    if request.audio is not None:
        if not model.sound:
            raise _reject(f"{model.name} makes no sound; leave audio unset.", "audio")
        if request.audio and body.get("mode", "std") not in model.sound_modes:
            raise _reject(
                f"{model.name} makes sound only in {' or '.join(model.sound_modes)} mode.",
                "audio",
                "Set resolution to 1080P (pro) as well, or leave audio unset.",
            )
        if request.audio and request.last_frame_url and model.sound_modes == ("pro",):
            raise _reject(
                f"{model.name} cannot make sound and follow a last frame at once.", "audio"
            )
        body["sound"] = "on" if request.audio else "off"
    return body


def _extras(request: VideoRequest, model: KlingModel, body: dict[str, Any]) -> None:
    for key, value in request.extra.items():
        if key not in EXTRAS:
            allowed = "; ".join(f"{k}: {v}" for k, v in EXTRAS.items())
            raise _reject(f"extra.{key} is not a Kling parameter here. Allowed: {allowed}.", key)
        if key == "mode":
            continue
        if key == "cfg_scale":
            if not model.cfg_scale:
                raise _reject(f"{model.name} takes no cfg_scale; leave it unset.", key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _reject(f"cfg_scale must be {EXTRAS[key]}, got {value!r}.", key)
            if not 0 <= value <= 1:
                raise _reject(f"cfg_scale must be {EXTRAS[key]}, got {value!r}.", key)
        if key == EXTERNAL_ID and (not isinstance(value, str) or not _OWN_ID.fullmatch(value)):
            raise _reject(
                f"{key} must be 1 to 60 letters, digits, '-' or '_' (it goes into the query "
                "path, after the task kind).",
                key,
            )
        body[key] = value


def build_create(
    request: VideoRequest, default_model: str, callback_url: str | None
) -> tuple[Kind, dict[str, Any]]:
    """The task kind and the create body for `request`; RequestRejected for what cannot go."""
    model = model_of(request.model or default_model)
    kind = kind_of(request)
    body = _common(request, model, kind)
    if kind is Kind.TEXT:
        if request.aspect_ratio is not None:
            if request.aspect_ratio not in ASPECT_RATIOS:
                allowed = ", ".join(ASPECT_RATIOS)
                raise _reject(f"aspect_ratio must be one of {allowed}.", "aspect_ratio")
            body["aspect_ratio"] = request.aspect_ratio
    elif kind is Kind.IMAGE and request.image_url is not None:
        if request.aspect_ratio is not None:
            raise _reject(
                "image2video takes its aspect ratio from the image; leave aspect_ratio unset.",
                "aspect_ratio",
            )
        body["image"] = _image(request.image_url, "image_url")
        if request.last_frame_url is not None:
            if not model.tail_frame:
                raise _reject(f"{model.name} takes no last frame (image_tail).", "last_frame_url")
            body["image_tail"] = _image(request.last_frame_url, "last_frame_url")
    else:
        if len(request.reference_urls) > MAX_IMAGES:
            raise _reject(f"Kling takes at most {MAX_IMAGES} reference images.", "reference_urls")
        if request.image_url is not None:
            raise _reject(
                "multi-image2video takes reference_urls only; leave image_url unset.",
                "image_url",
            )
        body["image_list"] = [
            {"image": _image(url, f"reference_urls[{i}]")}
            for i, url in enumerate(request.reference_urls)
        ]
        if request.aspect_ratio is not None:
            if request.aspect_ratio not in ASPECT_RATIOS:
                raise _reject(f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}.",
                              "aspect_ratio")  # fmt: skip
            body["aspect_ratio"] = request.aspect_ratio
    _extras(request, model, body)
    if callback_url:
        body["callback_url"] = callback_url
    return kind, body
