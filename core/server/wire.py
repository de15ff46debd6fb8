"""OpenAI's `/v1/videos` shapes on the wire, as the official `openai` clients parse them.

Taken from the `openai` Python package (openai/types/video.py, video_create_error.py,
video_delete_response.py, pagination.py's ConversationCursorPage). The core models never
appear on this wire: the gateway maps them here, as a provider maps its JSON in wire.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "Video",
    "VideoCost",
    "VideoCreate",
    "VideoDeleted",
    "VideoError",
    "VideoList",
    "VideoStatus",
]

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]


class VideoError(BaseModel):
    """Why a video failed (OpenAI's VideoCreateError)."""

    code: str
    message: str


class VideoCost(BaseModel):
    """An extension other gateways use as well: the estimate, and the actual cost once known."""

    currency: str | None = None
    estimate: str | None = None
    actual: str | None = None


class Video(BaseModel):
    """A video job, exactly the fields OpenAI's clients read, plus harmless extensions."""

    id: str
    object: Literal["video"] = "video"
    status: VideoStatus
    progress: int = Field(ge=0, le=100)
    created_at: int = Field(description="Unix seconds.")
    completed_at: int | None = None
    expires_at: int | None = Field(default=None, description="When the stored file goes.")
    error: VideoError | None = None
    model: str
    seconds: str
    size: str
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    cancelled: bool = Field(default=False, description="Extension: canceled at the provider.")
    task: str | None = Field(default=None, description='Extension: the task ref "provider:id".')
    cost: VideoCost | None = None


class VideoCreate(BaseModel):
    """The JSON body of POST /v1/videos (the multipart form carries the same fields)."""

    prompt: str
    model: str | None = None
    seconds: str | int | None = None
    size: str | None = None
    input_reference: dict[str, str] | None = Field(
        default=None, description='{"image_url": "https://..."}: the first frame.'
    )
    extra: dict[str, object] | None = Field(
        default=None, description="Extension: provider-specific settings, VideoRequest.extra."
    )
    callback_url: str | None = Field(
        default=None, description="Extension: where the video is POSTed, signed, when it ends."
    )


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """OpenAI's error envelope: {"error": {"message", "type", "param", "code"}}."""

    error: ErrorDetail
