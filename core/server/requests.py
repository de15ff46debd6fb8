"""OpenAI's create parameters mapped onto a VideoRequest, checked before anything is sent.

`seconds` becomes `duration`, `size` ("1280x720") becomes `size` ("1280*720") and
`input_reference` the first frame (`image_url`); every error names OpenAI's field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..models import VideoRequest
from .errors import ApiError

__all__ = ["Asked", "remote_media_only", "to_request", "with_first_frame"]

_REMOTE = ("https://", "http://", "data:")

_SIZE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")
# VideoRequest's names, as the caller of /v1/videos knows them.
_OPENAI_NAMES = {"duration": "seconds", "image_url": "input_reference", "size": "size"}


@dataclass
class Asked:
    """What a create request asked for, from its JSON body or its multipart form."""

    prompt: str
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    image_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value", retry=False)


def to_request(asked: Asked, model: str) -> VideoRequest:
    fields: dict[str, Any] = {"prompt": asked.prompt, "model": model, "extra": asked.extra}
    if asked.seconds not in (None, ""):
        text = str(asked.seconds).strip()
        if not text.isdigit():
            raise _bad(
                "seconds",
                f'seconds must be a whole number of seconds such as "4", got {asked.seconds!r}.',
            )
        fields["duration"] = int(text)
    if asked.size not in (None, ""):
        match = _SIZE.match(str(asked.size).strip())
        if match is None:
            raise _bad(
                "size", f'size must be "WIDTHxHEIGHT" such as "1280x720", got {asked.size!r}.'
            )
        fields["size"] = f"{match.group(1)}*{match.group(2)}"
    if asked.image_url:
        fields["image_url"] = asked.image_url
    try:
        return remote_media_only(VideoRequest.model_validate(fields))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "prompt"
        param = _OPENAI_NAMES.get(name, name)
        message = first["msg"].removeprefix("Value error, ")
        raise _bad(param, f"{param}: {message}.") from None


def remote_media_only(request: VideoRequest, prefix: str | None = None) -> VideoRequest:
    """Refuse media a caller names by path: the gateway's own files are not theirs to send.
    (An upload becomes a local file only after the gateway has checked and stored it.)
    Errors name OpenAI's fields, or `prefix`.field for the native API."""
    fields: list[tuple[str, object]] = [
        (name, getattr(request, name)) for name in ("image_url", "last_frame_url", "audio_url")
    ]
    fields += [("reference_urls", value) for value in request.reference_urls]
    for name, value in fields:
        remote = isinstance(value, str) and value.lower().startswith(_REMOTE)
        if value is not None and not remote:
            param = f"{prefix}.{name}" if prefix else _OPENAI_NAMES.get(name, name)
            raise _bad(
                param,
                f"{param} must be an http(s) URL or a data: URI; upload a file as multipart "
                "input_reference instead.",
            )
    return request


def with_first_frame(request: VideoRequest, path: Path) -> VideoRequest:
    """`request` with the stored upload at `path` as its first frame, given the way the
    request model takes a local file (a Path; a path string in older models)."""
    data = request.model_dump()
    for value in (path, str(path)):
        try:
            return VideoRequest.model_validate({**data, "image_url": value})
        except ValidationError:
            continue
    raise _bad("input_reference", "input_reference could not be used as the first frame.")
