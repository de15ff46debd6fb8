"""Command-line options that map one-to-one onto VideoRequest fields."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click

F = typing.TypeVar("F", bound=Callable[..., Any])


def request_options(fn: F) -> F:
    """Add one option per VideoRequest field, so the CLI cannot drift from the model."""
    from ..models import VideoRequest

    for name, info in reversed(list(VideoRequest.model_fields.items())):
        if name in ("prompt", "extra"):
            continue
        flag = name.replace("_", "-")
        kinds = [
            a for a in typing.get_args(info.annotation) or (info.annotation,) if a is not type(None)
        ]
        if typing.get_origin(info.annotation) is tuple:
            fn = click.option(
                f"--{flag}", name, multiple=True, type=str, help=f"{info.description} Repeatable."
            )(fn)
        elif kinds == [bool]:
            fn = click.option(f"--{flag}/--no-{flag}", name, default=None, help=info.description)(
                fn
            )
        else:
            fn = click.option(
                f"--{flag}", name, type=kinds[0], default=None, help=info.description
            )(fn)
    option = click.option(
        "--extra",
        "extra",
        multiple=True,
        metavar="KEY=VALUE",
        help="Provider-specific field; VALUE is parsed as JSON if it can be.",
    )
    return option(fn)


def build_request(prompt: str, extra: tuple[str, ...], fields: dict[str, Any]) -> Any:
    from ..models import VideoRequest

    given = {k: v for k, v in fields.items() if v is not None and v != ()}
    for name in _MEDIA & given.keys():
        value = given[name]
        given[name] = tuple(map(_local, value)) if isinstance(value, tuple) else _local(value)
    return VideoRequest(prompt=prompt, extra=parse_extra(extra), **given)


_MEDIA = {"image_url", "last_frame_url", "audio_url", "reference_urls"}
_URL_SCHEMES = ("http", "https", "data", "oss")


def _local(value: str) -> str | Path:
    """A media argument: a URL stays a str; a path (or `file://` URI) the user typed is
    theirs to upload, so it becomes the Path the Python API asks for. The user named it, so
    a symlink they name is followed here (the upload itself never follows one)."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() in _URL_SCHEMES:
        return value
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path)).resolve()
    if len(parts.scheme) > 1:
        return value  # another scheme: the request's own check names what it takes
    return Path(value).expanduser().resolve()


_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def invalid_input(exc: Any) -> click.UsageError:
    """A pydantic ValidationError of a VideoRequest, worded for what the user typed:
    `PROMPT` for the argument, `--duration` for an option, no pydantic prefixes."""
    problems: list[tuple[str | None, str]] = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        msg = str(err["msg"])
        for prefix in _PYDANTIC_PREFIXES:
            msg = msg.removeprefix(prefix)
        if not loc:
            name = None
        elif loc[0] == "prompt":
            name = "PROMPT"
        else:
            name = " ".join(["--" + loc[0].replace("_", "-"), *loc[1:]])
        problems.append((name, msg))
    if len(problems) == 1 and problems[0][0]:
        return click.BadParameter(problems[0][1], param_hint=problems[0][0])
    return click.UsageError("; ".join(f"{name}: {msg}" if name else msg for name, msg in problems))


def parse_extra(pairs: tuple[str, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--extra")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra
