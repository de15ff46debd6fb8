"""The fal video endpoints this provider maps VideoRequest onto (any other endpoint id works,
checked against its own published schema). Durations and tiers as their schemas list them
[schemas]; docs/providers/fal.md says where each was read and what stays unverified."""

from __future__ import annotations

from videoprovider.catalog import ModelInfo, ModelKind

T2V = ModelKind.TEXT_TO_VIDEO

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="fal-ai/wan-25-preview/text-to-video",
        kind=T2V,
        durations=(5, 10),
        resolutions=("480P", "720P", "1080P"),
        audio=True,
        description="Alibaba Wan 2.5 (the default: the family the other providers default to).",
    ),
    ModelInfo(
        id="fal-ai/kling-video/v2.1/master/text-to-video",
        kind=T2V,
        durations=(5, 10),
        audio=False,
        description="Kuaishou Kling 2.1 Master (16:9, 9:16 or 1:1).",
    ),
    ModelInfo(
        id="fal-ai/veo3",
        kind=T2V,
        durations=(4, 6, 8),
        resolutions=("720P", "1080P"),
        audio=True,
        description="Google Veo 3, with sound (16:9 or 9:16).",
    ),
    ModelInfo(
        id="fal-ai/wan/v2.2-a14b/text-to-video",
        kind=T2V,
        resolutions=("480P", "580P", "720P"),
        audio=False,
        description="Alibaba Wan 2.2 A14B (open weights).",
    ),
    ModelInfo(
        id="fal-ai/minimax/hailuo-2.3/standard/text-to-video",
        kind=T2V,
        durations=(6, 10),
        audio=False,
        description="MiniMax Hailuo 2.3 Standard (768p).",
    ),
    ModelInfo(
        id="fal-ai/ltx-2.3/text-to-video",
        kind=T2V,
        durations=(6, 8, 10),
        resolutions=("1080P", "1440P", "2160P"),
        description="Lightricks LTX-2.3 Pro.",
    ),
)
