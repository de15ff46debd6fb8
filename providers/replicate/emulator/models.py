"""The models the emulator serves, with input schemas shaped like Replicate's (cog's OpenAPI).

They are illustrative: the provider always validates against the live model's own schema.
`wan-video/wan-2.5-t2v` is official (run by name); `acme/keyframes` is pinned by version and
takes a resolution, an aspect ratio, first and last frames and a soundtrack switch.
"""

from __future__ import annotations

from typing import Any

ACME_VERSION = "5" * 64


def _openapi(properties: dict[str, Any], required: list[str], enums: dict[str, Any]) -> Any:
    return {
        "openapi": "3.0.2",
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "title": "Input",
                    "required": required,
                    "properties": properties,
                },
                **enums,
            }
        },
    }


def _enum(name: str, kind: str, values: list[Any]) -> dict[str, Any]:
    return {name: {"title": name, "type": kind, "enum": values}}


WAN = _openapi(
    {
        "prompt": {"type": "string", "title": "Prompt"},
        "negative_prompt": {"type": "string", "title": "Negative Prompt", "default": ""},
        "duration": {"allOf": [{"$ref": "#/components/schemas/duration"}], "default": 5},
        "size": {"allOf": [{"$ref": "#/components/schemas/size"}], "default": "1280*720"},
        "seed": {"type": "integer", "title": "Seed", "minimum": 0, "maximum": 2147483647},
        "audio": {"type": "string", "format": "uri", "title": "Audio"},
        "enable_prompt_expansion": {"type": "boolean", "default": True},
    },
    ["prompt"],
    {
        **_enum("duration", "integer", [5, 10]),
        **_enum("size", "string", ["832*480", "480*832", "1280*720", "720*1280", "1920*1080"]),
    },
)

ACME = _openapi(
    {
        "prompt": {"type": "string", "title": "Prompt"},
        "first_frame_image": {"type": "string", "format": "uri"},
        "last_frame_image": {"type": "string", "format": "uri"},
        "duration": {"type": "integer", "minimum": 2, "maximum": 12, "default": 6},
        "resolution": {"allOf": [{"$ref": "#/components/schemas/resolution"}]},
        "aspect_ratio": {"allOf": [{"$ref": "#/components/schemas/aspect_ratio"}]},
        "generate_audio": {"type": "boolean", "default": False},
        "camera": {"type": "string", "title": "Camera motion"},
    },
    ["prompt", "camera"],
    {
        **_enum("resolution", "string", ["480p", "720p", "1080p"]),
        **_enum("aspect_ratio", "string", ["16:9", "9:16", "1:1"]),
    },
)

WAN_VERSION = "a" * 64
MODELS: dict[str, dict[str, Any]] = {
    "wan-video/wan-2.5-t2v": {"version": WAN_VERSION, "schema": WAN, "official": True},
    "acme/keyframes": {"version": ACME_VERSION, "schema": ACME, "official": False},
}
