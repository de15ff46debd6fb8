"""OpenAI's create parameters mapped onto a VideoRequest, checked before anything is sent.

`seconds` becomes `duration`, `size` ("1280x720") becomes `size` ("1280*720") and
`input_reference` the first frame (`image_url`); every error names OpenAI's field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..models import VideoRequest
from .errors import ApiError

__all__ = ["Asked", "remote_media_only", "to_request"]

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


def remote_media_only(request: VideoRequest) -> VideoRequest:
    """Refuse media a caller names by path: the gateway's own files are not theirs to send.
    (An upload becomes a local file only after the gateway has checked and stored it.)"""
    for name in ("image_url", "last_frame_url", "audio_url"):
        value = getattr(request, name)
        if value is not None and not value.lower().startswith(_REMOTE):
            raise _bad(
                _OPENAI_NAMES.get(name, name),
                f"{_OPENAI_NAMES.get(name, name)} must "
                "be an http(s) URL or a data: URI; upload a file as multipart instead.",
            )
    for value in request.reference_urls:
        if not value.lower().startswith(_REMOTE):
            raise _bad("reference_urls", "reference_urls must be http(s) URLs or data: URIs.")
    return request
