"""What a caller passes as a request, made a `VideoRequest`: a prompt string with fields, or
a request with overrides. Every invalid value is a `RequestRejected` naming its field, so a
host that catches `VideoProviderError` never meets a raw pydantic `ValidationError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .errors import RequestRejected
from .models import VideoRequest

__all__ = ["to_request"]

_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def to_request(request: VideoRequest | str, fields: Mapping[str, Any]) -> VideoRequest:
    """`request` (a str is the prompt) with `fields` applied, validated."""
    try:
        if isinstance(request, str):
            return VideoRequest(prompt=request, **fields)
        if fields:
            return VideoRequest.model_validate({**request.model_dump(), **fields})
        return request
    except ValidationError as exc:
        raise rejected(exc) from None


def rejected(exc: ValidationError) -> RequestRejected:
    """The RequestRejected for a VideoRequest's ValidationError: the first field it names,
    every problem in the message."""
    problems: list[str] = []
    first: str | None = None
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or None
        message = str(error["msg"])
        for prefix in _PYDANTIC_PREFIXES:
            message = message.removeprefix(prefix)
        if error["type"] == "extra_forbidden":
            message = "is not a request field (provider-specific fields go in `extra`)"
        problems.append(f"{field}: {message}" if field else message)
        first = first or field
    return RequestRejected(
        f"Invalid request: {'; '.join(problems)}.",
        field=first,
        hint="Fix the named field; nothing was sent.",
        operation="submit",
    )
