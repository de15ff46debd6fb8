import pickle

import pytest

import videoprovider
from videoprovider import errors
from videoprovider.models import Task, VideoRequest

ALL = [getattr(errors, n) for n in errors.__all__]


def test_every_error_shares_one_base() -> None:
    assert all(issubclass(cls, errors.VideoProviderError) for cls in ALL)


@pytest.mark.parametrize("cls", ALL)
def test_every_error_says_what_to_do_next(cls: type[errors.VideoProviderError]) -> None:
    kwargs: dict[str, object] = {}
    if cls is errors.UnsupportedOperation:
        kwargs = {"provider": "p", "operation": "cancel"}
    if cls is errors.WaitTimeout:
        kwargs = {"task": Task(provider="p", task_id="t")}
    err = cls("Something happened.", **kwargs)  # type: ignore[arg-type]
    assert err.hint, f"{cls.__name__} has no hint"
    assert str(err).endswith(err.hint)


def test_context_is_carried_and_printed() -> None:
    err = errors.RateLimited(
        "Slow down.",
        retry_after=3.5,
        provider="dashscope",
        operation="status",
        task_id="t1",
        request_id="r1",
        code="Throttling",
        http_status=429,
    )
    assert err.retry_after == 3.5 and err.retryable
    assert err.context() == {
        "provider": "dashscope",
        "operation": "status",
        "task_id": "t1",
        "request_id": "r1",
        "code": "Throttling",
        "http_status": 429,
    }
    for part in ("provider=dashscope", "task_id=t1", "request_id=r1", "http_status=429"):
        assert part in str(err)


def test_errors_survive_pickling() -> None:
    request = VideoRequest(prompt="p")
    err = errors.SubmitOutcomeUnknown("No reply.", request=request, provider="x", code="c")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is errors.SubmitOutcomeUnknown
    assert clone.request == request and clone.code == "c" and str(clone) == str(err)


def test_wait_timeout_carries_the_task_and_how_to_resume() -> None:
    task = Task(provider="fake", task_id="abc")
    err = errors.WaitTimeout("Too slow.", task=task, timeout=5)
    assert err.task is task and err.task_id == "abc" and "'abc'" in err.hint


def test_content_rejection_is_a_request_rejection() -> None:
    assert issubclass(errors.ContentRejected, errors.RequestRejected)
    assert issubclass(errors.PermissionDenied, errors.AuthenticationError)
    assert not errors.RequestRejected("x").retryable
    assert errors.ProviderUnavailable("x").retryable


def test_public_api_is_pinned() -> None:
    assert videoprovider.__all__ == sorted(
        [
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
    )
    for name in videoprovider.__all__:
        assert getattr(videoprovider, name) is not None
    with pytest.raises(AttributeError):
        videoprovider.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
