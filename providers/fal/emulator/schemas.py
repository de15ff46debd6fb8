"""The OpenAPI documents the emulator serves, one per catalogued endpoint, in fal's shape:
`paths["/<endpoint>"].post.requestBody` refers to `components.schemas.<Name>Input`
[schemas]. Input names, enums and ranges follow each endpoint's published schema."""

from __future__ import annotations

from typing import Any

S: dict[str, Any] = {"type": "string"}
PROMPT = {"type": "string", "maxLength": 2500}
SEED = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
BOOL = {"type": "boolean"}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


INPUTS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "fal-ai/wan-25-preview/text-to-video": (
        {
            "prompt": {"type": "string", "maxLength": 800},
            "negative_prompt": S,
            "duration": _enum("5", "10"),
            "resolution": _enum("480p", "720p", "1080p"),
            "aspect_ratio": _enum("16:9", "9:16", "1:1"),
            "audio_url": S,
            "seed": SEED,
            "enable_prompt_expansion": BOOL,
        },
        ("prompt",),
    ),
    "fal-ai/kling-video/v2.1/master/text-to-video": (
        {
            "prompt": PROMPT,
            "negative_prompt": S,
            "duration": _enum("5", "10"),
            "aspect_ratio": _enum("16:9", "9:16", "1:1"),
            "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1},
        },
        ("prompt",),
    ),
    "fal-ai/veo3": (
        {
            "prompt": PROMPT,
            "negative_prompt": S,
            "duration": _enum("4s", "6s", "8s"),
            "resolution": _enum("720p", "1080p"),
            "aspect_ratio": _enum("16:9", "9:16"),
            "seed": SEED,
            "generate_audio": BOOL,
            "auto_fix": BOOL,
        },
        ("prompt",),
    ),
    "fal-ai/wan/v2.2-a14b/text-to-video": (
        {
            "prompt": PROMPT,
            "negative_prompt": S,
            "resolution": _enum("480p", "580p", "720p"),
            "aspect_ratio": _enum("auto", "16:9", "9:16", "1:1"),
            "num_frames": {"type": "integer", "minimum": 17, "maximum": 161},
            "frames_per_second": {"type": "integer", "minimum": 4, "maximum": 60},
            "seed": SEED,
            "enable_prompt_expansion": BOOL,
        },
        ("prompt",),
    ),
    "fal-ai/minimax/hailuo-2.3/standard/text-to-video": (
        {"prompt": PROMPT, "duration": _enum("6", "10"), "prompt_optimizer": BOOL},
        ("prompt",),
    ),
    "fal-ai/ltx-2.3/text-to-video": (
        {
            "prompt": PROMPT,
            "duration": {"type": "integer", "enum": [6, 8, 10]},
            "resolution": _enum("1080p", "1440p", "2160p"),
            "aspect_ratio": _enum("16:9", "9:16"),
            "fps": {"type": "integer", "enum": [24, 25, 48, 50]},
        },
        ("prompt",),
    ),
}


def openapi(endpoint: str) -> dict[str, Any] | None:
    """The OpenAPI document of `endpoint`, or None for an endpoint the emulator lacks."""
    found = INPUTS.get(endpoint)
    if found is None:
        return None
    props, required = found
    name = "".join(p.title() for p in endpoint.replace("-", "/").replace(".", "/").split("/"))
    ref = {"$ref": f"#/components/schemas/{name}Input"}
    return {
        "openapi": "3.0.4",
        "info": {"title": endpoint, "x-fal-metadata": {"endpointId": endpoint}},
        "paths": {
            f"/{endpoint}": {
                "post": {"requestBody": {"content": {"application/json": {"schema": ref}}}}
            }
        },
        "components": {
            "schemas": {
                f"{name}Input": {
                    "type": "object",
                    "properties": props,
                    "required": list(required),
                }
            }
        },
    }
