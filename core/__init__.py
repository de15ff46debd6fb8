"""videoprovider: one small interface for AI text-to-video services.

    from videoprovider import VideoClient

    with VideoClient() as client:              # provider from config; `fake` by default
        video = client.generate("A cat running on the grass", "cat.mp4")

Names are imported on first use, so `import videoprovider` (and the CLI's `--help`) stays
fast; the public API is exactly `__all__`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .backoff import Backoff
    from .client import AsyncVideoClient, Outcome
    from .clock import Clock, SystemClock, VirtualClock
    from .errors import (
        AccountError,
        AuthenticationError,
        ConfigurationError,
        ContentRejected,
        DownloadError,
        PermissionDenied,
        ProtocolError,
        ProviderUnavailable,
        RateLimited,
        RequestRejected,
        SubmitOutcomeUnknown,
        TaskCanceled,
        TaskFailed,
        TaskNotFound,
        TaskNotReady,
        UnsupportedOperation,
        VideoProviderError,
        WaitTimeout,
        WebhookRejected,
    )
    from .hookspecs import hookimpl
    from .models import (
        GeneratedVideo,
        Task,
        TaskPage,
        TaskState,
        TaskStatus,
        VideoRequest,
        WebhookDelivery,
    )
    from .plugins import ProviderInfo, list_providers
    from .policy import AdaptivePolicy
    from .provider import Operation, ProviderContext, ProviderSettings
    from .scheduler import PollScheduler
    from .sync import VideoClient

_LOCATIONS = {
    "AsyncVideoClient": "client",
    "Outcome": "client",
    "VideoClient": "sync",
    "VideoRequest": "models",
    "Task": "models",
    "TaskPage": "models",
    "TaskState": "models",
    "TaskStatus": "models",
    "GeneratedVideo": "models",
    "WebhookDelivery": "models",
    "Operation": "provider",
    "ProviderContext": "provider",
    "ProviderSettings": "provider",
    "hookimpl": "hookspecs",
    "Clock": "clock",
    "SystemClock": "clock",
    "VirtualClock": "clock",
    "Backoff": "backoff",
    "AdaptivePolicy": "policy",
    "PollScheduler": "scheduler",
    "ProviderInfo": "plugins",
    "list_providers": "plugins",
    **{
        name: "errors"
        for name in (
            "AccountError",
            "AuthenticationError",
            "ConfigurationError",
            "ContentRejected",
            "DownloadError",
            "PermissionDenied",
            "ProtocolError",
            "ProviderUnavailable",
            "RateLimited",
            "RequestRejected",
            "SubmitOutcomeUnknown",
            "TaskCanceled",
            "TaskFailed",
            "TaskNotFound",
            "TaskNotReady",
            "UnsupportedOperation",
            "VideoProviderError",
            "WaitTimeout",
            "WebhookRejected",
        )
    },
}

__all__ = [
    "AccountError",
    "AdaptivePolicy",
    "AsyncVideoClient",
    "AuthenticationError",
    "Backoff",
    "Clock",
    "ConfigurationError",
    "ContentRejected",
    "DownloadError",
    "GeneratedVideo",
    "Operation",
    "Outcome",
    "PermissionDenied",
    "PollScheduler",
    "ProtocolError",
    "ProviderContext",
    "ProviderInfo",
    "ProviderSettings",
    "ProviderUnavailable",
    "RateLimited",
    "RequestRejected",
    "SubmitOutcomeUnknown",
    "SystemClock",
    "Task",
    "TaskCanceled",
    "TaskFailed",
    "TaskNotFound",
    "TaskNotReady",
    "TaskPage",
    "TaskState",
    "TaskStatus",
    "UnsupportedOperation",
    "VideoClient",
    "VideoProviderError",
    "VideoRequest",
    "VirtualClock",
    "WaitTimeout",
    "WebhookDelivery",
    "WebhookRejected",
    "__version__",
    "hookimpl",
    "list_providers",
]


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'videoprovider' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
