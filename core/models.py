"""The typed values that cross the public API: requests in, tasks and statuses out.

All models are pydantic v2 and JSON round-trippable (`model_dump_json` / `model_validate_json`)
so a host can store them; a request naming local files (`pathlib.Path`) reads back as such
only with `context=LOCAL_FILES_CONTEXT`, because from anyone else a str is a URL. Provider
wire formats never appear here; each provider maps its own JSON onto these models.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "LOCAL_FILES_CONTEXT",
    "MAX_NEGATIVE_PROMPT_CHARS",
    "MAX_PROMPT_CHARS",
    "Billed",
    "Cost",
    "Estimate",
    "GeneratedVideo",
    "Task",
    "TaskPage",
    "TaskState",
    "TaskStatus",
    "VideoRequest",
    "WebhookDelivery",
]

# Generic ceilings that no provider exceeds; each provider checks its own, tighter limits.
MAX_PROMPT_CHARS = 10_000
MAX_NEGATIVE_PROMPT_CHARS = 5_000
MAX_DURATION_SECONDS = 600
MAX_SEED = 2**31 - 1

_RESOLUTION = re.compile(r"^(\d{3,4})P$")
_SIZE = re.compile(r"^(\d{2,5})\s*[*xX×]\s*(\d{2,5})$")
_RATIO = re.compile(r"^(\d{1,3}):(\d{1,3})$")
_MEDIA_SCHEMES = ("http", "https", "data", "oss")


class TaskState(str, Enum):
    """Where a task is in its life. The last four are terminal."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True when the task will not change state again."""
        return self in _TERMINAL

    @property
    def default_progress(self) -> int:
        """Progress to report when the provider gives no percentage of its own."""
        return _DEFAULT_PROGRESS[self]


_TERMINAL = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELED, TaskState.UNKNOWN}
)
_DEFAULT_PROGRESS = {
    TaskState.PENDING: 10,
    TaskState.PROCESSING: 50,
    TaskState.COMPLETED: 100,
    TaskState.FAILED: 0,
    TaskState.CANCELED: 0,
    TaskState.UNKNOWN: 0,
}


# Validation context under which a stored request (the journal's, a task's JSON) may name
# local files as `file://` URIs, the form `model_dump_json` writes them in. Never set for
# input from a caller: there a str is a URL, so a host forwarding its user's "image URL"
# cannot make videoprovider read, and upload, a file of its own server.
LOCAL_FILES_CONTEXT = {"videoprovider.local_files": True}


def _check_media(value: str | Path, field: str, info: ValidationInfo) -> str | Path:
    if isinstance(value, Path):
        return value
    value = value.strip()
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in _MEDIA_SCHEMES:
        return value
    if scheme == "file" and (info.context or {}).get("videoprovider.local_files"):
        return Path(unquote(parts.path))
    got = (
        "a file:// URL"
        if scheme == "file"
        else f"scheme {scheme!r}"
        if len(scheme) > 1  # one letter: a Windows drive, a path
        else "a path"
    )
    raise ValueError(
        f"{field} must be an http(s) URL, a data: URI or an oss:// URL, got {got}; a str is "
        f"always a URL: to send a local file, pass it as pathlib.Path (e.g. {field}="
        "Path('cat.png'))"
    )


def _file_uri(path: Path) -> str:
    return path.expanduser().absolute().as_uri()


# A local media file; JSON holds it as a `file://` URI (see LOCAL_FILES_CONTEXT).
LocalFile = Annotated[Path, PlainSerializer(_file_uri, return_type=str, when_used="json")]


class VideoRequest(BaseModel):
    """What to generate. Only `prompt` is required; unset fields take the provider's default.

    Provider-independent checks run here, at construction; each provider adds the checks of
    its models (allowed sizes, durations, prompt limits) before anything is sent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(description="What the video shows.")
    negative_prompt: str | None = Field(default=None, description="What the video must avoid.")
    model: str | None = Field(default=None, description="Provider model name; None: default.")
    duration: int | None = Field(default=None, description="Length in whole seconds.")
    resolution: str | None = Field(default=None, description="Quality tier: 480P, 720P, 1080P.")
    size: str | None = Field(default=None, description='Exact frame size "WIDTH*HEIGHT".')
    aspect_ratio: str | None = Field(default=None, description='Aspect ratio "W:H", e.g. 16:9.')
    seed: int | None = Field(default=None, description="Random seed for repeatable results.")
    prompt_extend: bool | None = Field(default=None, description="Let the provider rewrite it.")
    watermark: bool | None = Field(default=None, description="Ask for the provider watermark.")
    audio: bool | None = Field(default=None, description="Generate a soundtrack (if offered).")
    # Media: a str is a URL (http(s), data:, oss://); a pathlib.Path is a local file, which a
    # provider uploads (DashScope) or refuses.
    image_url: str | LocalFile | None = Field(
        default=None, description="First frame (image-to-video): a URL, or a local Path."
    )
    last_frame_url: str | LocalFile | None = Field(
        default=None, description="Last frame (keyframe models): a URL, or a local Path."
    )
    audio_url: str | LocalFile | None = Field(
        default=None, description="Driving audio track: a URL, or a local Path."
    )
    reference_urls: tuple[str | LocalFile, ...] = Field(
        default=(),
        description="Reference images or videos whose subjects appear in the video "
        "(reference-to-video), in the order the prompt names them.",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Provider-specific fields, passed through as given."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt must not be blank; describe the video to generate")
        if len(v) > MAX_PROMPT_CHARS:
            raise ValueError(
                f"prompt has {len(v)} characters, more than the {MAX_PROMPT_CHARS} any "
                "provider accepts; shorten it"
            )
        return v

    @field_validator("negative_prompt")
    @classmethod
    def _negative_prompt(cls, v: str | None) -> str | None:
        if v is not None and len(v) > MAX_NEGATIVE_PROMPT_CHARS:
            raise ValueError(
                f"negative_prompt has {len(v)} characters, more than "
                f"{MAX_NEGATIVE_PROMPT_CHARS}; shorten it"
            )
        return v or None

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("model must not be blank; leave it unset for the provider default")
        return v.strip() if v else None

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= MAX_DURATION_SECONDS:
            raise ValueError(
                f"duration must be whole seconds between 1 and {MAX_DURATION_SECONDS}, got {v}"
            )
        return v

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: str | None) -> str | None:
        if v is None:
            return None
        norm = v.strip().upper()
        if not _RESOLUTION.match(norm):
            raise ValueError(
                f"resolution must look like 480P, 720P or 1080P, got {v!r}; "
                'for an exact frame size use size="1280*720"'
            )
        return norm

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is None:
            return None
        m = _SIZE.match(v.strip())
        if not m:
            raise ValueError(f'size must be "WIDTH*HEIGHT" such as "1280*720", got {v!r}')
        return f"{int(m.group(1))}*{int(m.group(2))}"

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect_ratio(cls, v: str | None) -> str | None:
        if v is None:
            return None
        m = _RATIO.match(v.strip())
        if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
            raise ValueError(f'aspect_ratio must be "W:H" such as "16:9", got {v!r}')
        return f"{int(m.group(1))}:{int(m.group(2))}"

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int | None) -> int | None:
        if v is not None and not 0 <= v <= MAX_SEED:
            raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {v}")
        return v

    @field_validator("image_url", "last_frame_url", "audio_url")
    @classmethod
    def _media(cls, v: str | Path | None, info: ValidationInfo) -> str | Path | None:
        return None if v is None else _check_media(v, str(info.field_name), info)

    @field_validator("reference_urls")
    @classmethod
    def _reference_urls(
        cls, v: tuple[str | Path, ...], info: ValidationInfo
    ) -> tuple[str | Path, ...]:
        return tuple(_check_media(url, f"reference_urls[{i}]", info) for i, url in enumerate(v))

    @model_validator(mode="after")
    def _geometry(self) -> VideoRequest:
        if self.size is not None and (self.resolution is not None or self.aspect_ratio):
            raise ValueError(
                "size fixes the exact frame, so it cannot be combined with resolution or "
                "aspect_ratio; set either size, or resolution (with an optional aspect_ratio)"
            )
        if self.last_frame_url is not None and self.image_url is None:
            raise ValueError("last_frame_url needs image_url (the first frame) as well")
        return self


class Task(BaseModel):
    """A submitted generation: enough to find it again at its provider."""

    model_config = ConfigDict(frozen=True)

    provider: str
    task_id: str
    request: VideoRequest | None = Field(
        default=None, description="What was submitted; None when re-attached by bare id."
    )
    submitted_at: datetime | None = None
    request_id: str | None = Field(default=None, description="Provider's id for the submit call.")

    @field_validator("task_id")
    @classmethod
    def _task_id(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("task_id must not be blank")
        return v.strip()

    @property
    def ref(self) -> str:
        """`"<provider>:<task_id>"`: what a host stores to find this task again; every
        client operation (and CLI command) taking a task takes it."""
        return f"{self.provider}:{self.task_id}"


class Estimate(BaseModel):
    """The expected cost of one request, or (amount None) why it cannot be told."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal | None = None
    currency: str | None = None
    basis: str = Field(
        description='How it was reached ("5 s x 720P at 0.10 USD/s"), or why it is unknown.'
    )
    source: str = ""
    as_of: date | None = None

    @property
    def known(self) -> bool:
        return self.amount is not None

    def __str__(self) -> str:
        if self.amount is None:
            return f"unknown: {self.basis}"
        dated = f", prices as of {self.as_of}" if self.as_of else ""
        return f"{self.amount} {self.currency} ({self.basis}{dated})"


class Cost(Estimate):
    """What a finished task cost: `actual` when computed from the usage the provider
    reported, else the estimate made before submitting, which then stands."""

    actual: bool = Field(default=False, description="From reported usage, not the estimate.")

    def __str__(self) -> str:
        return f"{'actual' if self.actual else 'estimated'} {super().__str__()}"


class Billed(BaseModel):
    """What the provider says it billed for a task, in provider-neutral terms; each provider
    maps its own usage report (`TaskStatus.usage`) onto these. Unreported fields are None."""

    model_config = ConfigDict(frozen=True)

    seconds: float | None = Field(default=None, ge=0, description="Billed seconds of video.")
    resolution: str | None = Field(default=None, description="Billed tier: 480P, 720P, ...")
    videos: int | None = Field(default=None, ge=0, description="Videos billed.")
    compute_seconds: float | None = Field(
        default=None, ge=0, description="Seconds of compute billed (per-second hardware)."
    )


class TaskStatus(BaseModel):
    """One observation of a task at its provider."""

    model_config = ConfigDict(frozen=True)

    provider: str
    task_id: str
    state: TaskState
    progress: int = Field(default=-1, description="0-100; the state's default if not reported.")
    video_url: str | None = None
    video_url_expires_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    checked_at: datetime | None = Field(default=None, description="When this was observed.")
    actual_prompt: str | None = Field(default=None, description="The prompt as rewritten.")
    queue_position: int | None = Field(
        default=None, ge=0, description="Place in the provider's queue (0: next), if reported."
    )
    usage: dict[str, Any] | None = Field(
        default=None, description="The provider's usage report as it sent it (free-form)."
    )
    billed: Billed | None = Field(
        default=None, description="`usage` in provider-neutral terms, where it was reported."
    )
    cost: Cost | None = Field(
        default=None,
        description="A finished task's cost, set by the client from the price table: actual "
        "from `billed`, else the estimate.",
    )
    raw: dict[str, Any] = Field(default_factory=dict, description="The provider's payload.")

    @model_validator(mode="after")
    def _progress(self) -> TaskStatus:
        if self.progress == -1:
            object.__setattr__(self, "progress", self.state.default_progress)
        elif not 0 <= self.progress <= 100:
            raise ValueError(f"progress must be between 0 and 100, got {self.progress}")
        return self

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal


class TaskPage(BaseModel):
    """One page of a provider's task listing (`videoprovider_list_tasks`)."""

    model_config = ConfigDict(frozen=True)

    statuses: list[TaskStatus] = Field(default_factory=list)
    next_page: str | None = Field(
        default=None, description="The token of the next page; None on the last."
    )


class WebhookDelivery(BaseModel):
    """A verified push from a provider's service: the delivery's id and the task's status."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The delivery's id; a second delivery with it is a replay.")
    status: TaskStatus
    notice: bool = Field(
        default=False,
        description="True when the delivery only announces that the task changed (finished) "
        "without its result, as DashScope's completion events do: the client then fetches the "
        "task's status once, and that status (not this one) ends the waits and is journaled.",
    )


class GeneratedVideo(BaseModel):
    """The result of `generate`: the task, its final status and where the file was saved."""

    model_config = ConfigDict(frozen=True)

    task: Task
    status: TaskStatus
    path: str
    bytes: int
