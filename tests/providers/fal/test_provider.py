"""The fal provider's hooks against scripted replies (httpx.MockTransport)."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import TaskNotFound
from videoprovider.models import TaskState
from videoprovider.provider import ProviderContext
from videoprovider_fal.provider import FalProvider
from videoprovider_fal.settings import FalSettings

pytestmark = pytest.mark.anyio
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
TASK = f"fal-ai/veo3:{RID}"
Script = dict[tuple[str, str], httpx.Response]


def _provider(script: Script, seen: list[httpx.Request]) -> FalProvider:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return script[(request.method, request.url.path)]

    context = ProviderContext(
        name="fal", clock=VirtualClock(), transport=httpx.MockTransport(handle)
    )
    return FalProvider(FalSettings(api_key="sk-test-fal-provider"), context)


STATUS = ("GET", f"/fal-ai/veo3/requests/{RID}/status")
RESULT = ("GET", f"/fal-ai/veo3/requests/{RID}")
CANCEL = ("PUT", f"/fal-ai/veo3/requests/{RID}/cancel")
DONE = httpx.Response(200, json={"status": "COMPLETED", "logs": []})


async def _run(script: Script, call: Callable[[FalProvider], Any]) -> tuple[Any, list[Any]]:
    seen: list[httpx.Request] = []
    provider = _provider(script, seen)
    try:
        return await call(provider), seen
    finally:
        await provider.videoprovider_aclose()


async def test_a_completed_request_with_a_video_is_completed() -> None:
    video = {"video": {"url": "https://v3.fal.media/files/x.mp4"}}
    script = {STATUS: DONE, RESULT: httpx.Response(200, json=video)}
    status, seen = await _run(script, lambda p: p.videoprovider_status(task_id=TASK))
    assert status.state is TaskState.COMPLETED and status.video_url.endswith("x.mp4")
    assert all(r.headers["authorization"] == "Key sk-test-fal-provider" for r in seen)
    assert seen[0].url.params["logs"] == "1"


async def test_a_failed_model_is_failed_with_its_message() -> None:
    detail = {"detail": [{"loc": ["body", "prompt"], "msg": "flagged", "type": "policy"}]}
    script = {STATUS: DONE, RESULT: httpx.Response(422, json=detail)}
    status, _ = await _run(script, lambda p: p.videoprovider_status(task_id=TASK))
    assert status.state is TaskState.FAILED and status.error_message == "prompt: flagged"


async def test_a_result_fal_no_longer_has_is_unknown() -> None:
    script = {STATUS: DONE, RESULT: httpx.Response(404, json={"detail": "Not found"})}
    status, _ = await _run(script, lambda p: p.videoprovider_status(task_id=TASK))
    assert status.state is TaskState.UNKNOWN


async def test_a_canceled_request_is_canceled() -> None:
    cancelled = {"status": "COMPLETED", "error": "Request was cancelled", "error_type": "x"}
    script = {STATUS: httpx.Response(200, json=cancelled)}
    status, seen = await _run(script, lambda p: p.videoprovider_status(task_id=TASK))
    assert status.state is TaskState.CANCELED and len(seen) == 1


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        (httpx.Response(200, json={"status": "OK"}), TaskState.CANCELED),
        (httpx.Response(202, json={"status": "CANCELLATION_REQUESTED"}), TaskState.PROCESSING),
        (httpx.Response(400, json={"status": "ALREADY_COMPLETED"}), TaskState.COMPLETED),
    ],
)
async def test_each_cancel_answer(answer: httpx.Response, state: TaskState) -> None:
    running = httpx.Response(200, json={"status": "IN_PROGRESS", "logs": []})
    status_reply = DONE if state is TaskState.COMPLETED else running
    video = httpx.Response(200, json={"video": {"url": "https://v3.fal.media/v.mp4"}})
    script = {CANCEL: answer, STATUS: status_reply, RESULT: video}
    status, _ = await _run(script, lambda p: p.videoprovider_cancel(task_id=TASK))
    assert status.state is state


async def test_cancel_of_an_unknown_request_is_not_found() -> None:
    script = {CANCEL: httpx.Response(404, json={"status": "NOT_FOUND"})}
    with pytest.raises(TaskNotFound):
        await _run(script, lambda p: p.videoprovider_cancel(task_id=TASK))


STREAM = ("GET", f"/fal-ai/veo3/requests/{RID}/status/stream")
SSE = {"Content-Type": "text/event-stream"}


async def _watched(script: Script) -> tuple[list[Any], list[httpx.Request]]:
    async def follow(provider: FalProvider) -> list[Any]:
        return [s async for s in provider.videoprovider_watch(task_id=TASK)]

    got, seen = await _run(script, follow)
    return got, seen


async def test_the_status_stream_maps_each_event_and_reads_the_result_at_the_end() -> None:
    events = (
        b": keep-alive\n\n"
        b'data: {"status": "IN_QUEUE", "queue_position": 3}\n\n'
        b'data: {"status": "IN_PROGRESS", "logs": []}\n\n'
        b'data: {"status": "COMPLETED", "logs": []}\n\n'
    )
    video = {"video": {"url": "https://v3.fal.media/files/x.mp4"}}
    script = {
        STREAM: httpx.Response(200, headers=SSE, content=events),
        RESULT: httpx.Response(200, json=video),
    }
    got, seen = await _watched(script)
    assert [s.state for s in got] == [TaskState.PENDING, TaskState.PROCESSING, TaskState.COMPLETED]
    assert got[0].queue_position == 3 and got[-1].video_url.endswith("x.mp4")
    assert [r.url.path for r in seen] == [STREAM[1], RESULT[1]]
    assert seen[0].url.params["logs"] == "1"
    assert seen[0].headers["accept"] == "text/event-stream"
    assert all(r.headers["authorization"] == "Key sk-test-fal-provider" for r in seen)
    assert all(r.url.host == "queue.fal.run" for r in seen)  # the configured origin only


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (httpx.Response(401, json={"detail": "bad key"}), "AuthenticationError"),
        (httpx.Response(429, headers={"Retry-After": "4"}, json={}), "RateLimited"),
        (httpx.Response(200, json={"status": "IN_QUEUE"}), "ProviderUnavailable"),  # not SSE
        (httpx.Response(200, headers=SSE, content=b"data: {oops\n\n"), "ProtocolError"),
    ],
)
async def test_a_refused_or_garbled_status_stream_raises_for_the_fallback(
    reply: httpx.Response, error: str
) -> None:
    with pytest.raises(Exception) as info:
        await _watched({STREAM: reply})
    assert type(info.value).__name__ == error
    if error == "RateLimited":
        assert info.value.retry_after == 4.0  # type: ignore[attr-defined]
