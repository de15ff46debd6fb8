"""What the emulated service refuses, judged from the wire body and the model catalogue.

Replies mirror the real service's shape: HTTP 400 with `code` InvalidParameter (or a more
specific code) and a message. Prompts over the limit are *not* refused: the real service
silently truncates them [protocol notes §5].
"""

from __future__ import annotations

from typing import Any

from ..catalog import KF2V_PATH, family_of


def check_wire_body(path: str, body: Any) -> tuple[int, str, str] | None:
    """(http status, code, message) for a body the service would refuse, else None."""
    if not isinstance(body, dict):
        return 400, "InvalidParameter", "The request body must be a JSON object."
    model = body.get("model")
    if not model:
        return 400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.'
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        return 400, "BadRequest.EmptyInput", 'Required parameter "input" missing from request.'
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        return 400, "InvalidParameter", "parameters must be an object."
    family = family_of(str(model))
    if family is None:
        return 404, "Model.NotExist", "Model not exist."
    if (path.endswith(KF2V_PATH)) != (family.path == KF2V_PATH):
        return 400, "InvalidParameter", f"Model {model} is not supported on this endpoint."
    if not isinstance(inp.get("prompt", ""), str):
        return 400, "InvalidParameter", "input.prompt must be a string."
    checks: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("size", params.get("size"), family.sizes),
        ("resolution", params.get("resolution"), family.resolutions),
        ("ratio", params.get("ratio"), family.ratios),
        ("duration", params.get("duration"), family.durations),
    ]
    for name, value, allowed in checks:
        if value is not None and value not in allowed:
            return 400, "InvalidParameter", f"The {name} parameter is invalid: {value!r}."
    if family.image == "img_url" and not inp.get("img_url"):
        return 400, "InvalidParameter", "input.img_url is required for this model."
    if family.image == "media" and not isinstance(inp.get("media"), list):
        return 400, "InvalidParameter", "input.media is required for this model."
    if family.image == "keyframes" and not (
        inp.get("first_frame_url") and inp.get("last_frame_url")
    ):
        return 400, "InvalidParameter", "first_frame_url and last_frame_url are required."
    if family.image == "none" and any(k in inp for k in ("img_url", "media")):
        return 400, "InvalidParameter", "This model does not accept an image."
    if "audio" in params and not family.audio_flag:
        return 400, "InvalidParameter", "The audio parameter is not supported by this model."
    if "shot_type" in params and not family.shot_type:
        return 400, "InvalidParameter", "The shot_type parameter is not supported by this model."
    return None
