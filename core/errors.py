"""The error hierarchy: one base class, one subclass per thing a caller can act on.

Every error carries what is known of where it happened (`provider`, `operation`, `task_id`,
`request_id`, `code`, `http_status`) and a message that ends with what to do next. Errors
never format secrets: providers pass only redacted excerpts of what they received.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .redact import redact_userinfo

if TYPE_CHECKING:
    from .models import Task, TaskStatus, VideoRequest

__all__ = [
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
]


def end_sentence(text: str) -> str:
    """`text` ending as a sentence does, so that the next one never runs on from it
    ("... '/proc/nope'. This is a bug", not "... '/proc/nope' This is a bug")."""
    text = text.rstrip()
    if not text or text[-1] in ".!?…:":
        return text
    return f"{text}."


class VideoProviderError(Exception):
    """Base class of every error videoprovider raises on purpose.

    `retryable` says whether repeating the same call later may succeed; `hint` is the next step
    for the user and is appended to the message.
    """

    retryable: bool = False
    default_hint: str = "See the videoprovider docs for this error, or report it with its context."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
        task_id: str | None = None,
        request_id: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        # A URL in a message may carry a password (`https://user:pw@host`, a base_url):
        # never show it, wherever the message was written.
        self.message = redact_userinfo(message)
        self.hint = redact_userinfo(self.default_hint if hint is None else hint)
        self.provider = provider
        self.operation = operation
        self.task_id = task_id
        self.request_id = request_id
        self.code = code
        self.http_status = http_status
        super().__init__(self.message)

    def context(self) -> dict[str, Any]:
        """The known context fields, for logs and machine-readable output."""
        fields = {
            "provider": self.provider,
            "operation": self.operation,
            "task_id": self.task_id,
            "request_id": self.request_id,
            "code": self.code,
            "http_status": self.http_status,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        text = end_sentence(self.message)
        where = ", ".join(f"{k}={v}" for k, v in self.context().items())
        if where:
            text = f"{text} [{where}]"
        if self.hint:
            text = f"{text} {end_sentence(self.hint)}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only arguments do not pickle by default; host apps pass
        # errors between processes (multiprocessing, task queues), so make them survive it.
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[VideoProviderError], message: str, state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(VideoProviderError):
    """The configuration is missing, malformed or names something that is not installed."""

    default_hint = "See docs/configuration.md for every setting and where it can be set."


class UnsupportedOperation(VideoProviderError):
    """The provider does not offer this operation; nothing was sent."""

    def __init__(self, message: str, *, provider: str, operation: str, **kw: Any) -> None:
        kw.setdefault(
            "hint",
            "Nothing was sent to the provider. Check `client.capabilities` before calling.",
        )
        super().__init__(message, provider=provider, operation=operation, **kw)


class AuthenticationError(VideoProviderError):
    """The provider rejected the credentials."""

    default_hint = "Check the API key setting for this provider (docs/configuration.md)."


class PermissionDenied(AuthenticationError):
    """The credentials are valid but not allowed to do this (model not enabled, wrong mode)."""

    default_hint = "Enable the model for your account or workspace in the provider's console."


class AccountError(VideoProviderError):
    """The account cannot be charged or is out of quota (for example overdue payment)."""

    default_hint = "Check the billing status of the account in the provider's console."


class RateLimited(VideoProviderError):
    """The provider throttled the call. `retry_after` is the wait it asked for, in seconds."""

    retryable = True
    default_hint = "Wait and try again; lower the request rate if this keeps happening."

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ProviderUnavailable(VideoProviderError):
    """The provider could not be reached or answered with a server error."""

    retryable = True
    default_hint = "The provider or the network is having trouble; try again in a moment."


class RequestRejected(VideoProviderError):
    """The request is invalid for this provider or model. `field` names the culprit if known."""

    default_hint = "Fix the named field and submit again."

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        self.field = field
        super().__init__(message, **kw)


class ContentRejected(RequestRejected):
    """The provider's content moderation refused the input or the generated output."""

    default_hint = "Rephrase the prompt or change the input image; retrying as-is will not help."


class TaskFailed(VideoProviderError):
    """The task ended in FAILED. `status` holds the provider's final report."""

    default_hint = "The provider's message says why; adjust the request and submit again."

    def __init__(
        self, message: str, *, task: Task | None = None, status: TaskStatus | None = None, **kw: Any
    ) -> None:
        self.task = task
        self.status = status
        super().__init__(message, **kw)


class TaskCanceled(VideoProviderError):
    """The task was canceled before it produced a video."""

    default_hint = "Submit the request again if you still want the video."

    def __init__(
        self, message: str, *, task: Task | None = None, status: TaskStatus | None = None, **kw: Any
    ) -> None:
        self.task = task
        self.status = status
        super().__init__(message, **kw)


class TaskNotFound(VideoProviderError):
    """The provider does not know the task: a wrong id, another account or region, or expired."""

    default_hint = (
        "Check the task id and that this client uses the provider, account and region that "
        "submitted it; providers forget tasks after a retention period (DashScope: 24 h)."
    )


class TaskNotReady(VideoProviderError):
    """The operation needs a finished task (for example its video URL) and this one is not."""

    default_hint = "Call wait() first, or status() to see where the task is."


class WaitTimeout(VideoProviderError):
    """`wait` gave up before the task finished. The task is still running and not lost."""

    def __init__(
        self,
        message: str,
        *,
        task: Task,
        last_status: TaskStatus | None = None,
        timeout: float | None = None,
        **kw: Any,
    ) -> None:
        self.task = task
        self.last_status = last_status
        self.timeout = timeout
        kw.setdefault(
            "hint",
            f"The task is still running; call wait() again with task id {task.task_id!r} "
            "to resume, or raise the timeout.",
        )
        kw.setdefault("task_id", task.task_id)
        kw.setdefault("provider", task.provider)
        super().__init__(message, **kw)


class ProtocolError(VideoProviderError):
    """The provider answered with something that is not its documented protocol."""

    default_hint = (
        "This is a provider or gateway fault, or a protocol change videoprovider does not know "
        "yet; retry later and report it with the request id if it persists."
    )


# For providers' parsers (not exported with the error classes, which __all__ lists).
# What a parser raises when a reply has a shape it did not expect: a list where a string
# was, a number too large, a document too deep (RecursionError), a model refusing a value.
MALFORMED = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


@contextmanager
def malformed_reply(what: str, **where: Any) -> Iterator[None]:
    """Turn any unexpected shape in `what` (a reply, a delivery) into a ProtocolError, so a
    parser either returns a result or raises a VideoProviderError, never a TypeError."""
    try:
        yield
    except VideoProviderError:
        raise
    except MALFORMED as exc:
        raise ProtocolError(
            f"{what} has a shape videoprovider cannot read ({type(exc).__name__}).", **where
        ) from None


class SubmitOutcomeUnknown(VideoProviderError):
    """A submit may have reached the provider but no reply came back.

    The request was *not* resent, because a blind resubmit can pay for a duplicate video.
    `request` is the request that was sent, so it is not lost.
    """

    retryable = False
    default_hint = (
        "The provider may have accepted the task. Check the provider's console or task list "
        "before submitting again, or resubmit knowingly to accept a possible duplicate."
    )

    def __init__(self, message: str, *, request: VideoRequest | None = None, **kw: Any) -> None:
        self.request = request
        super().__init__(message, **kw)


class WebhookRejected(VideoProviderError):
    """A pushed delivery was not accepted: forged, stale or malformed. Nothing changed.

    `http_status` is what to answer the sender: 401 for a bad or stale signature, 400 for a
    body that cannot be read, 404 when no provider here takes deliveries.
    """

    default_hint = (
        "Check that the webhook secret configured here is the one the service signs with, "
        "and that the host passes the raw body and headers unchanged."
    )


class DownloadError(VideoProviderError):
    """The video could not be downloaded. No partial file is left at the target path.

    `retryable` when the video host throttled (429), failed (5xx) or cut the transfer off:
    the same download may succeed later."""

    default_hint = "Retry the download; video URLs stay valid for a limited time."

    def __init__(self, message: str, *, retryable: bool = False, **kw: Any) -> None:
        self.retryable = retryable
        super().__init__(message, **kw)
