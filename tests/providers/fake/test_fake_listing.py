"""The fake provider's task listing: the tasks it submitted, newest first, on its clock."""

from datetime import datetime, timedelta, timezone

import pytest

from videoprovider import VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.errors import ConfigurationError
from videoprovider.models import TaskPage, TaskState, VideoRequest
from videoprovider.reconcile import list_all
from videoprovider_fake import provider as fake
from videoprovider_fake.provider import FakeProvider, FakeSettings

pytestmark = pytest.mark.anyio
HOUR = timedelta(hours=1)


def make(clock: VirtualClock) -> FakeProvider:
    from videoprovider.provider import ProviderContext

    return FakeProvider(FakeSettings(seconds=10), ProviderContext(name="fake", clock=clock))


async def page(p: FakeProvider, clock: VirtualClock, **kw: object) -> TaskPage:
    args: dict[str, object] = {
        "since": clock.now() - HOUR,
        "until": clock.now() + HOUR,
        "model": None,
        "finished": False,
        "page": None,
    }
    args.update(kw)
    return await p.videoprovider_list_tasks(**args)  # type: ignore[arg-type]


async def test_lists_the_tasks_it_submitted_newest_first_with_their_state_now() -> None:
    clock = VirtualClock()
    p = make(clock)
    first = await p.videoprovider_submit(request=VideoRequest(prompt="a", model="m1"))
    clock.advance(6)
    second = await p.videoprovider_submit(request=VideoRequest(prompt="b", model="m2"))
    clock.advance(6)  # the first has run 12 s of 10, the second 6
    listed = await page(p, clock)
    assert [(s.task_id, s.state) for s in listed.statuses] == [
        (second.task_id, TaskState.PROCESSING),
        (first.task_id, TaskState.COMPLETED),
    ]
    assert listed.statuses[1].submitted_at == VirtualClock.EPOCH
    assert listed.next_page is None
    finished = await page(p, clock, finished=True)
    assert [s.task_id for s in finished.statuses] == [first.task_id]
    of_m2 = await page(p, clock, model="m2")
    assert [s.task_id for s in of_m2.statuses] == [second.task_id]
    later = await page(p, clock, since=clock.now() - timedelta(seconds=7))
    assert [s.task_id for s in later.statuses] == [second.task_id]


async def test_a_task_only_polled_here_is_not_listed() -> None:
    clock = VirtualClock()
    elsewhere = await make(clock).videoprovider_submit(request=VideoRequest(prompt="a"))
    p = make(clock)
    assert (await p.videoprovider_status(task_id=elsewhere.task_id)).state is TaskState.PENDING
    assert (await page(p, clock)).statuses == []


async def test_pages_are_walked_by_their_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "PAGE_SIZE", 2)
    clock = VirtualClock()
    p = make(clock)
    ids = [
        (await p.videoprovider_submit(request=VideoRequest(prompt="a"))).task_id for _ in "abcde"
    ]
    seen, token = [], None
    while True:
        got = await page(p, clock, page=token)
        seen += [s.task_id for s in got.statuses]
        token = got.next_page
        if token is None:
            break
        assert token.startswith("fake-page-")
    assert sorted(seen) == sorted(ids) and len(seen) == 5


@pytest.mark.parametrize("token", ["", "2", "fake-page-0", "fake-page-x", "SUCCEEDED:2"])
async def test_a_foreign_page_token_is_refused(token: str) -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigurationError, match="not a fake listing page token"):
        await page(make(clock), clock, page=token)


async def test_a_naive_window_is_refused() -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigurationError, match=r"since .* has no time zone"):
        await page(make(clock), clock, since=datetime(2026, 1, 1))


def test_reconcile_can_walk_the_fake_listing_through_a_client() -> None:
    clock = VirtualClock(start=datetime.now(timezone.utc))
    with VideoClient("fake", config=False, environ={}, clock=clock) as client:
        task = client.submit("a cat")
        backend = client.async_client._backends.main
        now = clock.now()
        found = client._run(list_all, backend, now - HOUR, now + HOUR, None)
    assert [s.task_id for s in found] == [task.task_id]
