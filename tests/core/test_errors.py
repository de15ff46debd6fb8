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
    )
    for name in videoprovider.__all__:
        assert getattr(videoprovider, name) is not None
    with pytest.raises(AttributeError):
        videoprovider.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


MOVED = [
    "AdaptivePolicy",
    "Backoff",
    "PollScheduler",
    "ProviderContext",
    "ProviderSettings",
    "SystemClock",
    "TaskPage",
    "WebhookDelivery",
]


@pytest.mark.parametrize("name", MOVED)
def test_provider_author_names_left_the_top_level_but_still_import(name: str) -> None:
    import videoprovider.plugin

    assert name not in videoprovider.__all__ and name not in dir(videoprovider)
    with pytest.warns(DeprecationWarning, match=rf"videoprovider\.{name}.*videoprovider\.plugin"):
        value = getattr(videoprovider, name)
    assert value is getattr(videoprovider.plugin, name)


def test_the_plugin_module_holds_what_a_provider_author_needs() -> None:
    import videoprovider.plugin as plugin

    needed = {
        *MOVED,
        "Operation",
        "hookimpl",
        "api_client",
        "send_bounded",
        "RequestRejected",
        "SubmitOutcomeUnknown",
        "ProviderUnavailable",
        "RateLimited",
        "Task",
        "TaskState",
        "TaskStatus",
        "VideoRequest",
        "ModelInfo",
        "VirtualClock",
    }
    assert needed <= set(plugin.__all__)
    for name in plugin.__all__:
        assert getattr(plugin, name) is not None


def test_importing_the_plugin_module_loads_no_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys, videoprovider.plugin; "
        "print(sorted(m for m in sys.modules if m in "
        "('videoprovider.client', 'videoprovider.sync', 'videoprovider.backend')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("message", "hint", "shown"),
    [
        ("Cannot open '/proc/nope'", "Fix it", "Cannot open '/proc/nope'. Fix it."),
        ("Done.", "Next step.", "Done. Next step."),
        ("Really?", "Try: again", "Really? Try: again."),
    ],
)
def test_message_and_hint_never_run_together(message: str, hint: str, shown: str) -> None:
    assert str(errors.VideoProviderError(message, hint=hint)) == shown
    located = str(errors.VideoProviderError(message, hint=hint, provider="fake"))
    assert located == shown.replace(hint, f"[provider=fake] {hint}")


def test_an_unexpected_error_in_the_cli_ends_its_sentence_before_the_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from videoprovider.cli import main

    def broken(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "/proc/nope")

    monkeypatch.setattr("videoprovider.plugins.list_providers", broken)
    result = CliRunner().invoke(main, ["providers"])
    assert result.exit_code == 1
    assert "'/proc/nope'. This is a bug" in result.stderr
