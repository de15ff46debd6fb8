"""What the emulated service refuses, judged from the wire body and its own model table.

Replies mirror the real service's shape: HTTP 400 with `code` InvalidParameter (or a more
specific code) and a message. Prompts over the limit are *not* refused: the real service
silently truncates them [protocol notes §5]. The rules come from `served.py`, not from the
provider's catalogue, so the two check each other.
"""

from __future__ import annotations

from typing import Any

from .served import KEYFRAMES, Served, served

Refusal = tuple[int, str, str]
_VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v")


def _invalid(message: str) -> Refusal:
    return 400, "InvalidParameter", message


def check_wire_body(path: str, body: Any) -> Refusal | None:
    """(http status, code, message) for a body the service would refuse, else None."""
    if not isinstance(body, dict):
        return _invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not model:
        return 400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.'
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        return 400, "BadRequest.EmptyInput", 'Required parameter "input" missing from request.'
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        return _invalid("parameters must be an object.")
    rules = served(str(model))
    if rules is None:
        return 404, "Model.NotExist", "Model not exist."
    if path.endswith(KEYFRAMES) != (rules.path == KEYFRAMES):
        return _invalid(f"Model {model} is not supported on this endpoint.")
    if not isinstance(inp.get("prompt", ""), str):
        return _invalid("input.prompt must be a string.")
    return _check_parameters(rules, params) or _check_input(rules, inp)


def _check_parameters(rules: Served, params: dict[str, Any]) -> Refusal | None:
    for name, allowed in (
        ("size", rules.size),
        ("resolution", rules.resolution),
        ("ratio", rules.ratio),
        ("duration", rules.duration),
    ):
        value = params.get(name)
        if value is not None and value not in allowed:
            return _invalid(f"The {name} parameter is invalid: {value!r}.")
    for name in ("audio", "shot_type"):
        if name in params and name not in rules.options:
            return _invalid(f"The {name} parameter is not supported by this model.")
    return None


def _is_video(url: Any) -> bool:
    text = str(url).lower()
    return text.startswith("data:video/") or text.split("?")[0].endswith(_VIDEO_SUFFIXES)


def _check_input(rules: Served, inp: dict[str, Any]) -> Refusal | None:
    media_keys = ("img_url", "first_frame_url", "last_frame_url", "reference_urls", "media")
    given = {k for k in media_keys if k in inp}
    for name in ("template", "audio_url"):
        if name in inp and name not in rules.options:
            return _invalid(f"input.{name} is not supported by this model.")
    if rules.takes == "text" and given:
        return _invalid("This model does not accept an image.")
    if rules.takes == "img_url" and (not inp.get("img_url") or given - {"img_url"}):
        return _invalid("input.img_url is required for this model.")
    if rules.takes == "frames":
        if not inp.get("first_frame_url"):
            return _invalid("input.first_frame_url is required.")
        if not inp.get("last_frame_url") and not inp.get("template"):
            return _invalid("input.last_frame_url is required without a template.")
    if rules.takes == "reference_urls":
        refs = inp.get("reference_urls") or inp.get("reference_video_urls")
        if not isinstance(refs, list) or not refs:
            return _invalid("input.reference_urls is required for this model.")
        return _count(rules, [_is_video(u) for u in refs])
    if rules.takes == "media" and (given or rules.media_required):
        return _check_media(rules, inp.get("media"), given)
    return None


def _check_media(rules: Served, media: Any, given: set[str]) -> Refusal | None:
    if not isinstance(media, list) or not media or given != {"media"}:
        return _invalid("input.media is required for this model (and replaces img_url).")
    kinds = [item.get("type") if isinstance(item, dict) else None for item in media]
    for item, kind in zip(media, kinds, strict=True):
        if kind not in rules.media or not isinstance(item, dict) or not item.get("url"):
            return _invalid(f"input.media item type {kind!r} is not supported by this model.")
    refs = [k for k in kinds if str(k).startswith("reference_")]
    if refs and {"first_frame", "last_frame"} & set(kinds):
        return _invalid("reference media cannot be combined with first or last frames.")
    if rules.most_references:
        return _count(rules, [k == "reference_video" for k in refs])
    return None


def _count(rules: Served, videos: list[bool]) -> Refusal | None:
    if len(videos) > rules.most_references:
        return _invalid(f"At most {rules.most_references} references are accepted.")
    if sum(videos) > rules.most_reference_videos:
        return _invalid(f"At most {rules.most_reference_videos} reference videos are accepted.")
    images = len(videos) - sum(videos)
    if rules.most_reference_images is not None and images > rules.most_reference_images:
        return _invalid(f"At most {rules.most_reference_images} reference images are accepted.")
    return None
