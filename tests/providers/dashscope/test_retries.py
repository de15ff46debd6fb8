"""Retry rules: polls are retried, a submit is never sent twice after it may have landed."""

import httpx
import pytest

from videoprovider import errors
from videoprovider.models import TaskState, VideoRequest
from videoprovider.provider import single_attempt

from .conftest import MakeProvider, ok_submit, task_reply

pytestmark = pytest.mark.anyio
REQUEST = VideoRequest(prompt="a cat", model="wan2.6-t2v")


def throttled(retry_after: str = "7") -> httpx.Response:
    return httpx.Response(
        429,
        json={"code": "Throttling.RateQuota", "message": "slow down"},
        headers={"Retry-After": retry_after},
    )


def unavailable(status: int = 503) -> httpx.Response:
    return httpx.Response(status, json={"code": "ServiceUnavailable", "message": "busy"})


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.ReadError("connection reset"),
        httpx.WriteTimeout("write timed out"),
    ],
)
async def test_submit_after_possibly_accepted_failure_raises_outcome_unknown(
    make_provider: MakeProvider, failure: Exception
) -> None:
    provider, recorder, _ = make_provider(failure, ok_submit())
    with pytest.raises(errors.SubmitOutcomeUnknown) as info:
        await provider.videoprovider_submit(request=REQUEST)
    assert info.value.request == REQUEST and not info.value.retryable
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_submit_answered_with_5xx_is_not_resent(
    make_provider: MakeProvider, status: int
) -> None:
    provider, recorder, _ = make_provider(unavailable(status), ok_submit())
    with pytest.raises(errors.SubmitOutcomeUnknown) as info:
        await provider.videoprovider_submit(request=REQUEST)
    assert info.value.http_status == status and len(recorder.requests) == 1


async def test_submit_reply_without_task_id_is_outcome_unknown(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(httpx.Response(200, text="<html>ok</html>"))
    with pytest.raises(errors.SubmitOutcomeUnknown):
        await provider.videoprovider_submit(request=REQUEST)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")]
)
async def test_submit_is_retried_when_it_never_left(
    make_provider: MakeProvider, failure: Exception
) -> None:
    provider, recorder, clock = make_provider(failure, ok_submit())
    task = await provider.videoprovider_submit(request=REQUEST)
    assert task.task_id == "t-1" and len(recorder.requests) == 2 and len(clock.sleeps) == 1


async def test_submit_gives_up_after_submit_retries(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(httpx.ConnectError("refused"), submit_retries=2)
    with pytest.raises(errors.ProviderUnavailable, match="Nothing was submitted"):
        await provider.videoprovider_submit(request=REQUEST)
    assert len(recorder.requests) == 3


async def test_submit_refused_with_429_is_retried_after_retry_after(
    make_provider: MakeProvider,
) -> None:
    provider, recorder, clock = make_provider(throttled("7"), ok_submit())
    assert (await provider.videoprovider_submit(request=REQUEST)).task_id == "t-1"
    assert clock.sleeps == [7.0] and len(recorder.requests) == 2


async def test_submit_429_beyond_retries_is_rate_limited(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(throttled("3"), submit_retries=1)
    with pytest.raises(errors.RateLimited) as info:
        await provider.videoprovider_submit(request=REQUEST)
    assert info.value.retry_after == 3.0 and len(recorder.requests) == 2


async def test_poll_survives_429_503_and_drops(make_provider: MakeProvider) -> None:
    provider, recorder, clock = make_provider(
        throttled("9"),
        unavailable(503),
        httpx.RemoteProtocolError("dropped"),
        httpx.ReadTimeout("slow"),
        task_reply("RUNNING"),
        max_retries=4,
    )
    status = await provider.videoprovider_status(task_id="t-1")
    assert status.state is TaskState.PROCESSING and len(recorder.requests) == 5
    assert clock.sleeps[0] == 9.0 and len(clock.sleeps) == 4


async def test_poll_gives_up_after_max_retries_with_a_retryable_error(
    make_provider: MakeProvider,
) -> None:
    provider, recorder, _ = make_provider(unavailable(503), max_retries=2)
    with pytest.raises(errors.ProviderUnavailable) as info:
        await provider.videoprovider_status(task_id="t-1")
    assert info.value.retryable and len(recorder.requests) == 3


async def test_poll_under_the_scheduler_makes_one_attempt(make_provider: MakeProvider) -> None:
    # The scheduler retries within its request budget; a retry here would escape it.
    provider, recorder, clock = make_provider(throttled("9"), task_reply("RUNNING"), max_retries=4)
    token = single_attempt.set(True)
    try:
        with pytest.raises(errors.RateLimited) as info:
            await provider.videoprovider_status(task_id="t-1")
    finally:
        single_attempt.reset(token)
    assert info.value.retry_after == 9.0
    assert len(recorder.requests) == 1 and clock.sleeps == []


async def test_poll_does_not_retry_permanent_errors(make_provider: MakeProvider) -> None:
    provider, recorder, _ = make_provider(
        httpx.Response(401, json={"code": "InvalidApiKey", "message": "no"})
    )
    with pytest.raises(errors.AuthenticationError):
        await provider.videoprovider_status(task_id="t-1")
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, None),
        ({"Retry-After": "Wed, 21 Oct 2099 07:28:00 -0000"}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    from videoprovider_dashscope.wire import retry_after

    value = retry_after(httpx.Response(429, headers=headers))
    if expected is None:
        assert value is not None and value > 3600
    else:
        assert value == expected
