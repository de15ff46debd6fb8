"""VideoRequest → a model's `input` object, checked against the model's own schema.

Each request field maps onto the first of its candidate input names that the model has
(Replicate models name the same idea differently: `image`, `first_frame_image`,
`start_image`). A field the model has no input for, a value outside an enum or range, or a
missing required input raises RequestRejected naming the field and what is allowed, before
anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from videoprovider.errors import RequestRejected
from videoprovider.models import VideoRequest

from .schemas import ModelSchema

# VideoRequest field → the input names models use for it, in order of preference.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "negative_prompt": ("negative_prompt",),
    "duration": ("duration", "seconds"),
    "resolution": ("resolution",),
    "size": ("size",),
    "aspect_ratio": ("aspect_ratio",),
    "seed": ("seed",),
    "prompt_extend": ("enable_prompt_expansion", "prompt_optimizer", "prompt_extend"),
    "audio": ("generate_audio", "audio_generation", "with_audio"),
    "image_url": ("image", "first_frame_image", "start_image", "first_frame", "input_image"),
    "last_frame_url": ("last_frame", "last_frame_image", "end_image", "tail_image"),
    "audio_url": ("audio", "audio_file", "audio_url"),
    "reference_urls": ("reference_images", "reference_urls", "references"),
    "watermark": ("watermark", "add_watermark"),
}
MEDIA = ("image_url", "last_frame_url", "audio_url", "reference_urls")
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _reject(field: str, model: str, message: str, hint: str | None = None) -> RequestRejected:
    return RequestRejected(
        f"{message} (model {model}).",
        field=field,
        hint=hint or "Fix the named field and submit again.",
        provider="replicate",
        operation="submit",
    )


def build_input(request: VideoRequest, schema: ModelSchema, model: str) -> dict[str, Any]:
    """The `input` object for `request`; RequestRejected for anything the schema refuses."""
    names = sorted(schema.inputs)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field, candidates in CANDIDATES.items():
        value = getattr(request, field)
        if value is None or value == ():
            continue
        if field in MEDIA:
            value = _remote_media(field, value, model)
        name = next((c for c in candidates if c in schema.inputs), None)
        if name is None:
            raise _reject(
                field,
                model,
                f"this model has no input for {field}",
                f"Leave {field} unset, or pick a model that takes it; its inputs are: "
                f"{', '.join(names)}.",
            )
        values[name] = value
        sources[name] = field
    for name, value in request.extra.items():
        if name not in schema.inputs:
            raise _reject(
                f"extra.{name}", model, f"unknown input {name!r}", f"Inputs: {', '.join(names)}."
            )
        values[name] = value
        sources[name] = f"extra.{name}"
    for name in list(values):
        values[name] = _check(schema.inputs[name], values[name], sources[name], name, model)
    missing = sorted(schema.required - values.keys())
    if missing:
        first = missing[0]
        raise _reject(
            first,
            model,
            f"the model requires input {first!r}",
            f"Set it through VideoRequest.extra[{first!r}] (required: {', '.join(missing)}).",
        )
    return values


def _check(spec: dict[str, Any], value: Any, field: str, name: str, model: str) -> Any:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        for allowed in enum:
            if allowed == value and type(allowed) is type(value):
                return allowed
            # VideoRequest spells resolutions "720P" while models take "720p"; durations may
            # be declared as strings. Matching by text sends the model's own spelling.
            if str(allowed).lower() == str(value).lower():
                return allowed
        shown = ", ".join(repr(a) for a in enum)
        raise _reject(field, model, f"{field}={value!r} is not accepted", f"Allowed: {shown}.")
    kind = spec.get("type")
    types = _TYPES.get(kind) if isinstance(kind, str) else None
    if types and (not isinstance(value, types) or (kind != "boolean" and isinstance(value, bool))):
        raise _reject(
            field, model, f"{field} must be of type {kind} for input {name!r}, got {value!r}"
        )
    low, high = spec.get("minimum"), spec.get("maximum")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    too_low = numeric and isinstance(low, (int, float)) and value < low
    too_high = numeric and isinstance(high, (int, float)) and value > high
    if too_low or too_high:
        raise _reject(
            field,
            model,
            f"{field}={value} is out of range",
            f"Allowed: {low if low is not None else '-∞'} to {high if high is not None else '∞'}.",
        )
    max_len = spec.get("maxLength")
    if isinstance(value, str) and isinstance(max_len, int) and len(value) > max_len:
        raise _reject(
            field, model, f"{field} has {len(value)} characters", f"At most {max_len} allowed."
        )
    return value


def _remote_media(
    field: str, value: str | Path | tuple[str | Path, ...], model: str
) -> str | list[str]:
    # Replicate fetches inputs from URLs (or takes data: URIs); this provider does not yet
    # upload local files (a Path), and one sent as a URL would fail only after the create.
    urls = (value,) if isinstance(value, (str, Path)) else value
    for url in urls:
        if isinstance(url, Path) or urlsplit(url).scheme.lower() not in ("http", "https", "data"):
            raise _reject(
                field,
                model,
                f"{field}: {url!r} is a local file, which the replicate provider cannot upload yet",
                "Pass an http(s) URL or a data: URI.",
            )
    return [str(url) for url in urls] if isinstance(value, tuple) else str(value)
