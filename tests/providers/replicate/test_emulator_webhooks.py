"""The emulator pushes signed deliveries over real HTTP to a receiver on 127.0.0.1."""

import threading
from collections.abc import Iterator
from functools import partial

import anyio
import httpx
import pytest

from videoprovider import VideoRequest
from videoprovider.clock import VirtualClock
from videoprovider.models import TaskState, WebhookDelivery
from videoprovider.provider import ProviderContext
from videoprovider.testing.emulator import Request, Response, base_url, in_thread, serve
from videoprovider_replicate.emulator import EmulatorConfig, RunningEmulator, run_in_thread
from videoprovider_replicate.emulator.webhooks import DEFAULT_SECRET
from videoprovider_replicate.provider import ReplicateProvider
from videoprovider_replicate.settings import ReplicateSettings

TOKEN = "sk-test-webhooks-0123456789"
CAT = VideoRequest(prompt="a cat", duration=5)


class Receiver:
    """A host's webhook endpoint: records each POST and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers = [200]
        self._arrived = threading.Condition()

    async def handle(self, request: Request) -> Response:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return Response(status)

    def wait_for(self, count: int) -> list[Request]:
        """Block (real time, bounded) until `count` requests arrived: delivery is a thread."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=10)
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with in_thread(partial(serve, rec.handle, "127.0.0.1", 0), name="receiver") as server:
        yield rec, base_url(server, "127.0.0.1", None) + "/hook"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emulator(clock: VirtualClock) -> Iterator[RunningEmulator]:
    with run_in_thread(EmulatorConfig(api_tokens=(TOKEN,)), clock=clock) as emu:
        yield emu


def provider_for(
    emu: RunningEmulator, clock: VirtualClock, **settings: object
) -> ReplicateProvider:
    values = {"api_token": TOKEN, "base_url": emu.base_url, "schema_cache_dir": "", **settings}
    return ReplicateProvider(
        ReplicateSettings.model_validate(values), ProviderContext(name="replicate", clock=clock)
    )


def test_a_completed_prediction_is_pushed_signed_and_verifies(
    emulator: RunningEmulator, clock: VirtualClock, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    provider = provider_for(emulator, clock, webhook_url=url)

    async def scenario() -> WebhookDelivery:
        task = await provider.videoprovider_submit(request=CAT)
        clock.advance(61)  # past the emulated 60-second run
        (push,) = await anyio.to_thread.run_sync(rec.wait_for, 1)
        assert push.method == "POST" and push.path == "/hook"
        delivery = await provider.videoprovider_webhook(headers=push.headers, body=push.body)
        assert delivery.status.task_id == task.task_id
        await provider.videoprovider_aclose()
        return delivery

    delivery = anyio.run(scenario)
    assert delivery.status.state is TaskState.COMPLETED and delivery.status.video_url
    (sent,) = emulator.service.webhooks.settled(1)
    assert (sent.event, sent.attempts, sent.delivered) == ("completed", 1, True)
    assert delivery.id == sent.headers["webhook-id"]
    # The secret was not configured: the provider fetched it from the emulator, once.
    assert len(emulator.service.requests_of("secret")) == 1


def test_events_follow_the_filter_and_a_failed_delivery_is_retried(
    emulator: RunningEmulator, clock: VirtualClock, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.answers = [200, 503, 200]
    provider = provider_for(emulator, clock, webhook_url=url, webhook_events=["start", "completed"])

    async def submit() -> None:
        await provider.videoprovider_submit(request=CAT)
        await provider.videoprovider_aclose()

    anyio.run(submit)
    rec.wait_for(1)
    clock.advance(61)
    pushes = rec.wait_for(3)
    ids = [p.headers["webhook-id"] for p in pushes]
    assert ids[1] == ids[2] != ids[0]  # the retry is the same delivery, not a new one
    settled = emulator.service.webhooks.settled(2)
    events = [(d.event, d.attempts, d.delivered) for d in settled]
    assert events == [("start", 1, True), ("completed", 2, True)]


def test_the_signing_secret_is_served_to_the_account_only(emulator: RunningEmulator) -> None:
    url = emulator.base_url + "/webhooks/default/secret"
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).json() == {
        "key": DEFAULT_SECRET
    }
    assert httpx.get(url, headers={"Authorization": "Bearer sk-test-wrong"}).status_code == 401


@pytest.mark.parametrize(
    "extra",
    [{"webhook": "ftp://host/hook"}, {"webhook": "https://h/x", "webhook_events_filter": ["end"]}],
)
def test_the_emulator_refuses_bad_webhook_fields(emulator: RunningEmulator, extra: dict) -> None:  # type: ignore[type-arg]
    reply = httpx.post(
        emulator.base_url + "/models/wan-video/wan-2.5-t2v/predictions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"input": {"prompt": "a cat"}, **extra},
    )
    assert reply.status_code == 422
    assert emulator.service.predictions == {}
