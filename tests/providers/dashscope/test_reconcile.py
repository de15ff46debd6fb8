"""Settling a submit whose outcome is unknown, against the emulator's task listing."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from videoprovider import ConfigurationError, SubmitOutcomeUnknown, TaskState, VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.journal.entry import Phase
from videoprovider_dashscope.emulator import Fault, RunningEmulator

KEY = "sk-test-emulator"


@pytest.fixture
def dashscope_clock() -> VirtualClock:
    # The journal stamps entries with the real time; the emulator's task times must be
    # comparable, so its virtual clock starts now.
    return VirtualClock(start=datetime.now(timezone.utc))


def client(emulator: RunningEmulator, clock: VirtualClock, tmp_path: Path) -> VideoClient:
    return VideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=clock,
        api_key=KEY,
        base_url=emulator.base_url,
        journal=tmp_path / "journal.sqlite3",
    )


def lose_a_submit(c: VideoClient, emulator: RunningEmulator) -> str:
    emulator.service.inject(Fault("drop_after", match="submit"))
    with pytest.raises(SubmitOutcomeUnknown):
        c.submit("a lost cat", model="wan2.6-t2v")
    assert c.journal is not None
    (entry,) = c.journal.entries(phase=Phase.OUTCOME_UNKNOWN)
    return entry.id


def test_the_task_a_lost_submit_created_is_found_adopted_and_collected(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock, tmp_path: Path
) -> None:
    with client(dashscope_emulator, dashscope_clock, tmp_path) as c:
        c.submit("a known cat", model="wan2.6-t2v")  # claimed by its own entry
        entry_id = lose_a_submit(c, dashscope_emulator)
        (orphan,) = c.orphans()
        assert orphan.entry.id == entry_id
        assert c.journal is not None
        claimed = {e.task_id for e in c.journal.entries() if e.task_id}
        created = [t for t in dashscope_emulator.service.tasks if t not in claimed]
        assert len(created) == 1  # the emulator did create the lost submit's task
        assert [s.task_id for s in orphan.candidates or []] == created
        adopted = c.adopt(entry_id[:8], created[0])
        assert adopted.phase is Phase.SUBMITTED and adopted.task_id == created[0]
        assert c.orphans() == []
        (result,) = [r for r in c.resume() if r.task_id == created[0]]
        assert result.status is not None and result.status.state is TaskState.COMPLETED


def test_two_candidates_are_shown_and_nothing_is_adopted_without_the_user(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock, tmp_path: Path
) -> None:
    with client(dashscope_emulator, dashscope_clock, tmp_path) as c:
        lose_a_submit(c, dashscope_emulator)
    with VideoClient(  # another program on the same account, with no journal
        "dashscope",
        config=False,
        environ={},
        clock=dashscope_clock,
        api_key=KEY,
        base_url=dashscope_emulator.base_url,
        journal=False,
    ) as other:
        other.submit("someone else's cat", model="wan2.6-t2v")
    with client(dashscope_emulator, dashscope_clock, tmp_path) as c:
        (orphan,) = c.orphans()
        assert len(orphan.candidates or []) == 2
        assert orphan.entry.phase is Phase.OUTCOME_UNKNOWN
        settled = c.abandon(orphan.entry.id)
        assert settled.phase is Phase.ABANDONED and c.orphans() == []
        with pytest.raises(ConfigurationError, match="not an unknown outcome"):
            c.adopt(orphan.entry.id, "whatever")


def test_tasks_outside_the_window_or_of_another_model_are_not_candidates(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock, tmp_path: Path
) -> None:
    with client(dashscope_emulator, dashscope_clock, tmp_path) as c:
        lose_a_submit(c, dashscope_emulator)
        c.submit("another model's cat", model="wan2.5-t2v-preview")
        dashscope_clock.advance(3600)
        c.submit("an hour later", model="wan2.6-t2v")
        (orphan,) = c.orphans()
        assert len(orphan.candidates or []) == 1
