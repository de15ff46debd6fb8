"""The client's journaling (journal/recorder.py): off the event loop, on the client's clock."""

import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest

from videoprovider import AsyncVideoClient, TaskState, TaskStatus, VirtualClock
from videoprovider.journal import SQLiteJournal
from videoprovider.journal import recorder as recorder_module
from videoprovider.journal.recorder import Recorder

pytestmark = pytest.mark.anyio


class Watched(SQLiteJournal):
    """Tells the test when a status write has started (in whatever thread runs it)."""

    writing = threading.Event()

    def status(self, status: TaskStatus) -> None:
        self.writing.set()
        super().status(status)


async def test_a_locked_journal_stalls_its_write_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = Watched(path)
    clock = VirtualClock()
    async with (
        AsyncVideoClient("fake", config=False, environ={}, clock=clock, journal=journal) as c,
        AsyncVideoClient("fake", config=False, environ={}, clock=clock, journal=False) as other,
    ):
        done = await c.submit("a cat", extra={"fake": {"seconds": 1}})
        await c.wait(done)
        task = await c.submit("a dog", extra={"fake": {"scenario": "stuck"}})
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it likes
        answered: list[TaskStatus] = []

        async def blocked() -> None:
            answered.append(await c.status(task))

        async with anyio.create_task_group() as group:
            group.start_soon(blocked)
            assert await anyio.to_thread.run_sync(Watched.writing.wait, 30)
            # The write waits for the lock in its worker thread; meanwhile the loop runs
            # other waits to their end, and this client's calls that write nothing.
            with anyio.fail_after(30):
                elsewhere = await other.submit("a bird", extra={"fake": {"seconds": 30}})
                final = await other.wait(elsewhere, timeout=None)
                url = await c.url(done)
            assert final.state is TaskState.COMPLETED and url
            assert answered == []  # still waiting for the lock, not failed
            lock.execute("ROLLBACK")
        (status,) = answered
        entry = journal.task("fake", task.task_id)
        assert entry is not None and entry.state is status.state
    lock.close()


async def test_entries_are_stamped_by_the_clients_clock(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2031, 5, 6, 7, 8, tzinfo=timezone.utc))
    async with AsyncVideoClient(
        "fake", config=False, environ={}, clock=clock, journal=tmp_path / "j.sqlite3"
    ) as client:
        task = await client.submit("a cat", extra={"fake": {"seconds": 60}})
        await client.wait(task)
        assert client.journal is not None
        entry = client.journal.task("fake", task.task_id)
        assert entry is not None
        assert entry.created_at == datetime(2031, 5, 6, 7, 8, tzinfo=timezone.utc)
        # The virtual minute and a few seconds of polls, not the real time.
        assert abs((entry.updated_at - clock.now()).total_seconds()) < 0.001


async def test_the_last_statuses_remembered_are_bounded_and_ended_tasks_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "SEEN", 3)
    recorder = Recorder(SQLiteJournal(tmp_path / "j.sqlite3"))

    def status(task_id: str, state: TaskState) -> TaskStatus:
        return TaskStatus(provider="fake", task_id=task_id, state=state)

    for n in range(5):
        await recorder.status(status(f"t{n}", TaskState.PROCESSING))
    assert list(recorder._seen) == [("fake", "t2"), ("fake", "t3"), ("fake", "t4")]
    await recorder.status(status("t3", TaskState.COMPLETED))
    assert ("fake", "t3") not in recorder._seen
    await recorder.close()
