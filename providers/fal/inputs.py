"""VideoRequest → an endpoint's input object, checked against the endpoint's own schema.

Each request field maps onto the first of its candidate input names the endpoint has (fal's
video endpoints name the same idea differently: Wan's `enable_prompt_expansion` is
Hailuo's `prompt_optimizer`). A field the endpoint has no input for, an unknown
`extra` input, a value outside an enum or range, or a missing required input raises
RequestRejected naming the field and what is allowed, before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from videoprovider.errors import RequestRejected
from videoprovider.models import VideoRequest

from .schemas import InputSchema

# VideoRequest field → the input names fal endpoints use for it, in order of preference
# (read from the published schemas of the endpoints in catalog.py).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt",),
    "negative_prompt": ("negative_prompt",),
    "duration": ("duration",),
    "resolution": ("resolution",),
    "aspect_ratio": ("aspect_ratio",),
    "seed": ("seed",),
    "prompt_extend": ("enable_prompt_expansion", "prompt_optimizer"),
    "audio": ("generate_audio",),
    "image_url": ("image_url", "start_image_url"),
    "last_frame_url": ("tail_image_url", "end_image_url", "last_frame_url"),
    "audio_url": ("audio_url",),
    "reference_urls": ("reference_image_urls", "image_urls"),
    "watermark": ("watermark",),
    "size": ("video_size",),
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


def _reject(field: str, endpoint: str, message: str, hint: str | None = None) -> RequestRejected:
    return RequestRejected(
        f"{message} (fal endpoint {endpoint}).",
        field=field,
        hint=hint or "Fix the named field and submit again.",
        provider="fal",
        operation="submit",
    )


def build_input(request: VideoRequest, schema: InputSchema, endpoint: str) -> dict[str, Any]:
    """The input object for `request`; RequestRejected for anything the schema refuses."""
    names = ", ".join(sorted(schema.inputs))
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field, candidates in CANDIDATES.items():
        value = getattr(request, field)
        if value is None or value == ():
            continue
        if field in MEDIA:
            value = _remote_media(field, value, endpoint)
        name = next((c for c in candidates if c in schema.inputs), None)
        if name is None:
            raise _reject(
                field,
                endpoint,
                f"this endpoint has no input for {field}",
                f"Leave {field} unset, or pick an endpoint that takes it; its inputs are: {names}.",
            )
        values[name], sources[name] = value, field
    for name, value in request.extra.items():
        if name not in schema.inputs:
            raise _reject(f"extra.{name}", endpoint, f"unknown input {name!r}", f"Inputs: {names}.")
        values[name], sources[name] = value, f"extra.{name}"
    for name in list(values):
        values[name] = check(schema.inputs[name], values[name], sources[name], endpoint)
    missing = sorted(schema.required - values.keys())
    if missing:
        raise _reject(
            missing[0],
            endpoint,
            f"the endpoint requires input {missing[0]!r}",
            f"Set it through VideoRequest.extra[{missing[0]!r}] (required: {', '.join(missing)}).",
        )
    return values


def _same(allowed: Any, value: Any) -> bool:
    if allowed == value and type(allowed) is type(value):
        return True
    # VideoRequest spells "720P" and 5 (seconds) where endpoints take "720p", "5" or "5s":
    # matching by text sends the endpoint's own spelling.
    text = str(value).lower()
    return str(allowed).lower() in (text, f"{text}s")


def check(spec: dict[str, Any], value: Any, field: str, endpoint: str) -> Any:
    """`value` as the endpoint spells it; RequestRejected when `spec` refuses it."""
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        for allowed in enum:
            if _same(allowed, value):
                return allowed
        shown = ", ".join(repr(a) for a in enum)
        raise _reject(field, endpoint, f"{field}={value!r} is not accepted", f"Allowed: {shown}.")
    kind = spec.get("type")
    types = _TYPES.get(kind) if isinstance(kind, str) else None
    if types and (not isinstance(value, types) or (kind != "boolean" and isinstance(value, bool))):
        raise _reject(field, endpoint, f"{field} must be of type {kind}, got {value!r}")
    low, high = spec.get("minimum"), spec.get("maximum")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and (
        (isinstance(low, (int, float)) and value < low)
        or (isinstance(high, (int, float)) and value > high)
    ):
        shown = f"{'-∞' if low is None else low} to {'∞' if high is None else high}"
        raise _reject(field, endpoint, f"{field}={value} is out of range", f"Allowed: {shown}.")
    max_len = spec.get("maxLength")
    if isinstance(value, str) and isinstance(max_len, int) and len(value) > max_len:
        raise _reject(
            field, endpoint, f"{field} has {len(value)} characters", f"At most {max_len} allowed."
        )
    return value


def _remote_media(
    field: str, value: str | Path | tuple[str | Path, ...], endpoint: str
) -> str | list[str]:
    # fal fetches inputs from URLs (or data: URIs); a local path sent as a URL would fail
    # only after the submit, which may already be billed.
    checked: list[str] = []
    for url in (value,) if isinstance(value, (str, Path)) else value:
        if isinstance(url, Path) or urlsplit(url).scheme.lower() not in ("http", "https", "data"):
            raise _reject(
                field,
                endpoint,
                f"{field}: {url!r} is a local file, which the fal provider cannot upload yet",
                "Pass an http(s) URL or a data: URI.",
            )
        checked.append(url)
    return checked[0] if isinstance(value, str) else checked
