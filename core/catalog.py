"""What a provider's models are, in one shape for every provider: the model catalogue.

A provider declares `models`, a tuple of `ModelInfo`; `videoprovider models` prints them,
and the provider docs' model tables are generated from them, so the catalogue a user reads
is the one the code validates against.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelInfo", "ModelKind"]


class ModelKind(str, Enum):
    """What a model makes a video from."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    KEYFRAMES = "keyframes"  # first and last frame
    REFERENCE_TO_VIDEO = "reference-to-video"  # subjects cast from reference images/videos
    MULTIMODAL = "multimodal"  # any mix of the above in one model
    VIDEO_EDIT = "video-edit"


class ModelInfo(BaseModel):
    """One model of a provider: what it takes, as far as the provider's docs say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The model name to pass as VideoRequest.model.")
    kind: ModelKind
    durations: tuple[int, ...] = Field(default=(), description="Allowed seconds; () unknown.")
    resolutions: tuple[str, ...] = Field(default=(), description="Quality tiers, e.g. 720P.")
    sizes: tuple[str, ...] = Field(default=(), description='Exact sizes "W*H".')
    audio: bool | None = Field(default=None, description="Makes sound; None: unknown.")
    regions: tuple[str, ...] = Field(default=(), description="Where served; () everywhere.")
    description: str = Field(default="", description="One line for people.")
    supported: bool = Field(default=True, description="False: listed, but refused unsent.")
