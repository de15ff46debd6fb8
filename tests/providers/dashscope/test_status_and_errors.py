from datetime import datetime, timedelta, timezone

import httpx
import pytest

from videoprovider import errors
from videoprovider.models import TaskState

from .conftest import KEY, MakeProvider, task_reply

pytestmark = pytest.mark.anyio
CST = timezone(timedelta(hours=8))
URL = "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/x.mp4?Expires=1&Signature=abc"


@pytest.mark.parametrize(
    ("wire", "state", "progress"),
    [
        ("PENDING", TaskState.PENDING, 10),
        ("RUNNING", TaskState.PROCESSING, 50),
        ("FAILED", TaskState.FAILED, 0),
        ("CANCELED", TaskState.CANCELED, 0),
        ("UNKNOWN", TaskState.UNKNOWN, 0),
        ("PROCESSING", TaskState.PROCESSING, 50),
        ("QUEUED", TaskState.PENDING, 10),
        ("ERROR", TaskState.FAILED, 0),
        ("succeeded", TaskState.COMPLETED, 100),
        ("NOT_START", TaskState.PENDING, 10),
        ("SUSPENDED", TaskState.PROCESSING, 50),
        ("Brewing", TaskState.PROCESSING, 50),
    ],
)
async def test_status_mapping(
    make_provider: MakeProvider, wire: str, state: TaskState, progress: int
) -> None:
    extra = {"video_url": URL} if state is TaskState.COMPLETED else {}
    provider, _, _ = make_provider(task_reply(wire, **extra))
    status = await provider.videoprovider_status(task_id="t-1")
    assert (status.state, status.progress) == (state, progress)


async def test_succeeded_keeps_url_times_usage_prompts(make_provider: MakeProvider) -> None:
    reply = httpx.Response(
        200,
        json={
            "request_id": "rq",
            "usage": {"video_duration": 5, "video_count": 1, "SR": 720},
            "output": {
                "task_id": "t-1",
                "task_status": "SUCCEEDED",
                "video_url": URL,
                "submit_time": "2025-01-02 10:00:00.123",
                "scheduled_time": "2025-01-02 10:00:05.000",
                "end_time": "2025-01-02 10:02:00.500",
                "orig_prompt": "a cat",
                "actual_prompt": "a fluffy cat",
                "task_metrics": {"TOTAL": 1},
                "brand_new_field": [1, 2],
            },
        },
    )
    provider, _, _ = make_provider(reply)
    s = await provider.videoprovider_status(task_id="t-1")
    assert s.state is TaskState.COMPLETED and s.video_url == URL and s.request_id == "rq"
    assert s.submitted_at == datetime(2025, 1, 2, 10, 0, 0, 123000, tzinfo=CST)
    assert s.started_at == datetime(2025, 1, 2, 10, 0, 5, tzinfo=CST)
    assert s.finished_at == datetime(2025, 1, 2, 10, 2, 0, 500000, tzinfo=CST)
    assert s.video_url_expires_at == s.finished_at + timedelta(hours=24)
    assert s.usage == {"video_duration": 5, "video_count": 1, "SR": 720}
    assert s.actual_prompt == "a fluffy cat" and s.raw["output"]["brand_new_field"] == [1, 2]


async def test_failed_carries_code_and_message(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(
        task_reply(
            "FAILED", code="DataInspectionFailed", message="Output data may contain inappropriate"
        )
    )
    s = await provider.videoprovider_status(task_id="t-1")
    assert (s.error_code, s.error_message) == (
        "DataInspectionFailed",
        "Output data may contain inappropriate",
    )
    provider, _, _ = make_provider(task_reply("FAILED", code="X", message="m"))
    with pytest.raises(errors.TaskFailed, match="X"):
        await provider.videoprovider_url(task_id="t-1")


async def test_url_of_unknown_and_unfinished_tasks(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(task_reply("UNKNOWN"))
    with pytest.raises(errors.TaskNotFound):
        await provider.videoprovider_url(task_id="t-1")
    provider, _, _ = make_provider(task_reply("RUNNING"))
    with pytest.raises(errors.TaskNotReady):
        await provider.videoprovider_url(task_id="t-1")
    provider, _, _ = make_provider(task_reply("SUCCEEDED", video_url=URL))
    assert await provider.videoprovider_url(task_id="t-1") == URL


def err(
    status: int, code: str | None, message: str = "msg", headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"request_id": "rid-9", "message": message}
    if code:
        body["code"] = code
    return httpx.Response(status, json=body, headers=headers)


ERROR_ROWS = [
    (401, "InvalidApiKey", errors.AuthenticationError, "region"),
    (403, "AccessDenied", errors.PermissionDenied, "Enable the model"),
    (403, "AccessDenied.Unpurchased", errors.PermissionDenied, "console"),
    (400, "InvalidParameter", errors.RequestRejected, "InvalidParameter"),
    (400, "DataInspectionFailed", errors.ContentRejected, "inappropriate"),
    (400, "Arrearage", errors.AccountError, "billing"),
    (404, "Model.NotExist", errors.RequestRejected, "model name"),
    (400, "BadRequest.EmptyModel", errors.RequestRejected, "EmptyModel"),
]


@pytest.mark.parametrize(
    ("status", "code", "cls", "said"), ERROR_ROWS, ids=[r[1] for r in ERROR_ROWS]
)
async def test_submit_error_mapping(
    make_provider: MakeProvider,
    status: int,
    code: str,
    cls: type[errors.VideoProviderError],
    said: str,
) -> None:
    from videoprovider.models import VideoRequest

    message = "Output data may contain inappropriate content." if "Inspection" in code else "m"
    provider, recorder, _ = make_provider(err(status, code, message))
    with pytest.raises(cls) as info:
        await provider.videoprovider_submit(request=VideoRequest(prompt="p"))
    e = info.value
    assert type(e) is cls
    assert (e.provider, e.operation, e.http_status, e.code, e.request_id) == (
        "dashscope",
        "submit",
        status,
        code,
        "rid-9",
    )
    assert said in str(e)
    assert len(recorder.requests) == 1


async def test_status_errors_carry_the_task_id(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(err(401, "InvalidApiKey"))
    with pytest.raises(errors.AuthenticationError) as info:
        await provider.videoprovider_status(task_id="t-77")
    assert info.value.task_id == "t-77" and info.value.operation == "status"


async def test_request_id_falls_back_to_header(make_provider: MakeProvider) -> None:
    reply = httpx.Response(
        400, json={"code": "InvalidParameter", "message": "m"}, headers={"x-request-id": "hdr-1"}
    )
    provider, _, _ = make_provider(reply)
    from videoprovider.models import VideoRequest

    with pytest.raises(errors.RequestRejected) as info:
        await provider.videoprovider_submit(request=VideoRequest(prompt="p"))
    assert info.value.request_id == "hdr-1"


async def test_business_code_in_a_200_reply(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(
        httpx.Response(200, json={"request_id": "r", "code": "InvalidApiKey", "message": "bad"})
    )
    with pytest.raises(errors.AuthenticationError):
        await provider.videoprovider_status(task_id="t-1")


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(502, text="<html><h1>502 Bad Gateway</h1> token sk-abcdefghijklmnop</html>"),
        httpx.Response(200, text='{"output": {'),
        httpx.Response(200, json={"output": "nope"}),
        httpx.Response(200, json=["a list"]),
    ],
)
async def test_malformed_replies_are_protocol_errors_with_a_redacted_excerpt(
    make_provider: MakeProvider, reply: httpx.Response
) -> None:
    provider, _, _ = make_provider(reply, max_retries=0)
    with pytest.raises(errors.VideoProviderError) as info:
        await provider.videoprovider_status(task_id="t-1")
    assert isinstance(info.value, errors.ProtocolError | errors.ProviderUnavailable)
    assert "abcdefghijklmnop" not in str(info.value) and len(str(info.value)) < 700


async def test_completed_without_url_is_a_protocol_error(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(task_reply("SUCCEEDED"), max_retries=0)
    with pytest.raises(errors.ProtocolError, match="without an https video_url"):
        await provider.videoprovider_status(task_id="t-1")


def test_key_is_not_in_reprs(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider()
    assert KEY not in repr(provider) + repr(provider.settings) + str(provider.settings)


def business(code: str, message: str = "m") -> httpx.Response:
    return httpx.Response(200, json={"request_id": "r-5", "code": code, "message": message})


@pytest.mark.parametrize(
    "code", ["InvalidParameter", "BadRequest.EmptyInput", "InvalidURL", "SomethingNew"]
)
async def test_submit_refused_in_a_200_reply_is_a_refusal_not_an_unknown_outcome(
    make_provider: MakeProvider, code: str
) -> None:
    from videoprovider.models import VideoRequest

    provider, recorder, _ = make_provider(business(code))
    with pytest.raises(errors.RequestRejected) as info:
        await provider.videoprovider_submit(request=VideoRequest(prompt="p"))
    assert info.value.code == code and info.value.request_id == "r-5"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [("TaskNotExist", "m"), ("InvalidParameter", "The task does not exist or has expired.")],
)
async def test_task_not_found_in_a_200_reply_is_unknown_without_retrying(
    make_provider: MakeProvider, code: str, message: str
) -> None:
    provider, recorder, _ = make_provider(business(code, message))
    status = await provider.videoprovider_status(task_id="t-1")
    assert status.state is TaskState.UNKNOWN and status.request_id == "r-5"
    assert len(recorder.requests) == 1


async def test_refusal_in_a_200_status_reply_is_not_retried(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(business("InvalidParameter", "bad task id format"))
    with pytest.raises(errors.RequestRejected):
        await provider.videoprovider_status(task_id="t-1")
    assert len(recorder.requests) == 1


async def test_transient_code_in_a_200_status_reply_is_retried(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(business("InternalError"), task_reply("RUNNING"))
    assert (await provider.videoprovider_status(task_id="t-1")).state is TaskState.PROCESSING
    assert len(recorder.requests) == 2


async def test_a_missing_workspace_is_not_a_missing_task(make_provider: MakeProvider) -> None:
    provider, _, _ = make_provider(business("Workspace.NotFound", "workspace not found"))
    with pytest.raises(errors.VideoProviderError) as info:
        await provider.videoprovider_status(task_id="t-1")
    assert info.value.code == "Workspace.NotFound"
