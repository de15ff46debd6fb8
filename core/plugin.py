"""Everything a provider plugin is written with, in one module.

    from videoprovider.plugin import (
        Operation, ProviderContext, ProviderSettings, RequestRejected, SubmitOutcomeUnknown,
        Task, TaskState, TaskStatus, VideoRequest, api_client, hookimpl, send_bounded,
    )

The package top level (`videoprovider`) is for host applications: the clients, requests,
tasks, statuses and errors. A provider author imports from here instead: the contract
(`Operation`, `ProviderSettings`, `ProviderContext`, `hookimpl`), the shapes hooks return,
every error a hook may raise, the HTTP helpers (`api_client`, `send_bounded`), and the
clocks, backoff and polling pieces a provider or its tests build on. Each name is also in
the module that defines it (docs/writing-a-provider.md says which); this module only gathers
them, so nothing in the core imports it.
"""

from __future__ import annotations

from .apiclient import APIClient, ResponseTooLarge, api_client, read_bounded, send_bounded
from .backoff import MAX_RETRY_AFTER, Backoff, cap_retry_after, retry_after_header
from .catalog import ModelInfo, ModelKind
from .clock import Clock, SystemClock, VirtualClock
from .download import redact_url
from .errors import (
    AccountError,
    AuthenticationError,
    ConfigurationError,
    ContentRejected,
    PermissionDenied,
    ProtocolError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    SubmitOutcomeUnknown,
    TaskNotFound,
    TaskNotReady,
    UnsupportedOperation,
    VideoProviderError,
    WebhookRejected,
)
from .hookspecs import hookimpl
from .models import Billed, Task, TaskPage, TaskState, TaskStatus, VideoRequest, WebhookDelivery
from .policy import AdaptivePolicy
from .prices import Price
from .provider import Declaration, Operation, ProviderContext, ProviderSettings, single_attempt
from .scheduler import PollScheduler

__all__ = [
    "MAX_RETRY_AFTER",
    "APIClient",
    "AccountError",
    "AdaptivePolicy",
    "AuthenticationError",
    "Backoff",
    "Billed",
    "Clock",
    "ConfigurationError",
    "ContentRejected",
    "Declaration",
    "ModelInfo",
    "ModelKind",
    "Operation",
    "PermissionDenied",
    "PollScheduler",
    "Price",
    "ProtocolError",
    "ProviderContext",
    "ProviderSettings",
    "ProviderUnavailable",
    "RateLimited",
    "RequestRejected",
    "ResponseTooLarge",
    "SubmitOutcomeUnknown",
    "SystemClock",
    "Task",
    "TaskNotFound",
    "TaskNotReady",
    "TaskPage",
    "TaskState",
    "TaskStatus",
    "UnsupportedOperation",
    "VideoProviderError",
    "VideoRequest",
    "VirtualClock",
    "WebhookDelivery",
    "WebhookRejected",
    "api_client",
    "cap_retry_after",
    "hookimpl",
    "read_bounded",
    "redact_url",
    "retry_after_header",
    "send_bounded",
    "single_attempt",
]
