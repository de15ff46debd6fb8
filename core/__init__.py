"""videoprovider: one small interface for AI text-to-video services.

    from videoprovider import VideoClient

    with VideoClient() as client:              # provider from config; `fake` by default
        video = client.generate("A cat running on the grass", "cat.mp4")

Names are imported on first use, so `import videoprovider` (and the CLI's `--help`) stays
fast; the public API is exactly `__all__`: what a host application uses. Provider plugins
import from `videoprovider.plugin`; the provider-author names that used to be here still
import, with a DeprecationWarning naming the module to use.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .client import AsyncVideoClient, Outcome
    from .clock import Clock, VirtualClock
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
        TaskState,
        TaskStatus,
        VideoRequest,
    )
    from .plugins import ProviderInfo, list_providers
    from .provider import Operation
    from .sync import VideoClient

_LOCATIONS = {
    "AsyncVideoClient": "client",
    "Outcome": "client",
    "VideoClient": "sync",
    "VideoRequest": "models",
    "Task": "models",
    "TaskState": "models",
    "TaskStatus": "models",
    "GeneratedVideo": "models",
    "Operation": "provider",
    "hookimpl": "hookspecs",
    "Clock": "clock",
    "VirtualClock": "clock",
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
    "AsyncVideoClient",
    "AuthenticationError",
    "Clock",
    "ConfigurationError",
    "ContentRejected",
    "DownloadError",
    "GeneratedVideo",
    "Operation",
    "Outcome",
    "PermissionDenied",
    "ProtocolError",
    "ProviderInfo",
    "ProviderUnavailable",
    "RateLimited",
    "RequestRejected",
    "SubmitOutcomeUnknown",
    "Task",
    "TaskCanceled",
    "TaskFailed",
    "TaskNotFound",
    "TaskNotReady",
    "TaskState",
    "TaskStatus",
    "UnsupportedOperation",
    "VideoClient",
    "VideoProviderError",
    "VideoRequest",
    "VirtualClock",
    "WaitTimeout",
    "WebhookRejected",
    "__version__",
    "hookimpl",
    "list_providers",
]


# Provider-author names the top level once held; they live in `videoprovider.plugin` now.
_MOVED = {
    "AdaptivePolicy": "policy",
    "Backoff": "backoff",
    "PollScheduler": "scheduler",
    "ProviderContext": "provider",
    "ProviderSettings": "provider",
    "SystemClock": "clock",
    "TaskPage": "models",
    "WebhookDelivery": "models",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None and name in _MOVED:
        warnings.warn(
            f"`videoprovider.{name}` is for provider plugins and moved: import it from "
            f"videoprovider.plugin (or videoprovider.{_MOVED[name]}).",
            DeprecationWarning,
            stacklevel=2,
        )
        # Not cached in globals(): every old import keeps saying where the name went.
        return getattr(importlib.import_module(f".{_MOVED[name]}", __name__), name)
    if module is None:
        raise AttributeError(f"module 'videoprovider' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
