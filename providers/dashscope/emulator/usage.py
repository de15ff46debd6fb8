"""The `usage` a succeeded task reports: what the emulated service bills, from the request.

Like the real service [protocol notes §6]: wan2.1-2.6 report `video_duration`,
`video_count` and `SR` (the short side's tier, 720 for 1280*720); wan2.7 reports `duration`,
`SR` and `ratio`. The duration is the request's, else the 5 s every Wan model defaults to.
"""

from __future__ import annotations

from typing import Any

DEFAULT_SECONDS = 5
DEFAULT_TIER = 720
_TIERS = (480, 720, 1080)


def billed_usage(body: dict[str, Any]) -> dict[str, Any]:
    """The usage report of the task `body` (a submit's JSON) creates."""
    params = body.get("parameters") or {}
    duration = params.get("duration", DEFAULT_SECONDS)
    tier = _tier(params)
    if str(body.get("model", "")).startswith("wan2.7"):
        return {"duration": duration, "SR": tier, "ratio": params.get("ratio", "16:9")}
    return {"video_duration": duration, "video_count": 1, "SR": tier}


def _tier(params: dict[str, Any]) -> int:
    resolution = str(params.get("resolution", "")).upper().removesuffix("P")
    if resolution.isdigit():
        return int(resolution)
    width, _, height = str(params.get("size", "")).partition("*")
    if width.isdigit() and height.isdigit():
        short = min(int(width), int(height))
        return min(_TIERS, key=lambda t: abs(t - short))
    return DEFAULT_TIER
