"""No task is lost: crashes mid-wait, crashes mid-submit, and workers sharing one journal."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videoprovider import AsyncVideoClient, TaskState, VideoClient, VirtualClock
from videoprovider.download import video_name
from videoprovider.journal import Phase, SQLiteJournal
from videoprovider.models import Task, TaskStatus, VideoRequest
from videoprovider.policy import Z_EARLY

N = 6


def _env(tmp_path: Path, db: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VIDEOPROVIDER_", "DASHSCOPE_"))
    }
    env.update(
        {
            "VIDEOPROVIDER_JOURNAL_URL": str(db),
            "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
            "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
        }
    )
    return env


GENERATE_MANY = """
import asyncio, sys
from videoprovider import AsyncVideoClient, hookimpl

class Announce:
    @hookimpl
    def videoprovider_task_submitted(self, task):
        print("submitted", task.task_id, flush=True)

async def main(n, folder):
    async with AsyncVideoClient("fake", journal=True, plugins=[Announce()], seconds=600) as c:
        await asyncio.gather(*(c.generate(f"video {i}", f"{folder}/v{i}.mp4") for i in range(n)))

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"""


def test_sigkill_mid_wait_then_resume_collects_every_task_once(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite3"
    env = _env(tmp_path, db)
    out = tmp_path / "videos"
    out.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", GENERATE_MANY, str(N), str(out)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    submitted = [child.stdout.readline().split()[1] for _ in range(N)]
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert list(out.iterdir()) == []  # killed mid-wait: nothing collected yet

    store = SQLiteJournal(db)
    assert sorted(e.task_id or "" for e in store.unfinished()) == sorted(submitted)
    store.close()
    # The tasks (600 s of fake time) are long finished in a process whose clock runs fast.
    env["VIDEOPROVIDER_FAKE_SECONDS"] = "0.01"
    resumer = """
import sys
from videoprovider import VideoClient, VirtualClock, hookimpl
from datetime import datetime, timedelta, timezone

class NoSubmits:
    @hookimpl
    def videoprovider_task_submitted(self, task):
        print("SUBMITTED AGAIN", task.task_id, flush=True)

clock = VirtualClock(start=datetime.now(timezone.utc) + timedelta(seconds=601))
with VideoClient("fake", journal=True, clock=clock, plugins=[NoSubmits()]) as c:
    for r in c.resume():
        print("resumed", r.task_id, r.path, r.error, flush=True)
"""
    done = subprocess.run(
        [sys.executable, "-c", resumer], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "SUBMITTED AGAIN" not in done.stdout
    lines = [line.split() for line in done.stdout.splitlines()]
    assert sorted(parts[1] for parts in lines) == sorted(submitted)
    assert all(parts[3] == "None" for parts in lines)  # no errors
    assert sorted(p.name for p in out.iterdir()) == sorted(f"v{i}.mp4" for i in range(N))
    store = SQLiteJournal(db)
    entries = store.entries()
    assert len(entries) == N and {e.phase for e in entries} == {Phase.COLLECTED}
    assert len({e.task_id for e in entries}) == N
    store.close()


SUBMIT_ONE = """
import sys
from videoprovider import VideoClient
with VideoClient("dashscope", journal=True, api_key="sk-test-crash", base_url=sys.argv[1]) as c:
    c.submit("a cat")
"""


def test_sigkill_between_sending_submit_and_its_reply_is_outcome_unknown(tmp_path: Path) -> None:
    from videoprovider_dashscope.emulator import Fault, run_subprocess

    db = tmp_path / "journal.sqlite3"
    env = _env(tmp_path, db)
    with run_subprocess("--qps-limit", "0") as emu:
        emu.inject(Fault("slow", match="submit", delay=60))
        child = subprocess.Popen([sys.executable, "-c", SUBMIT_ONE, emu.base_url], env=env)
        deadline = time.monotonic() + 30
        while emu.stats()["counts"].get("submit", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for another process, not for time to pass
        assert emu.stats()["counts"]["submit"] == 1  # the request reached the provider
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    listed = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "--json", "tasks", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    [entry] = json.loads(listed.stdout)
    assert entry["phase"] == "outcome_unknown" and entry["task_id"] is None
    assert "may exist" in entry["error"]
    text = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "tasks", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "submit outcome unknown" in text
    # resume never resubmits it
    resumed = subprocess.run(
        [sys.executable, "-m", "videoprovider.cli", "tasks", "resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0 and "nothing to resume" in resumed.stdout


WORKER = """
import sys, time
from videoprovider import VideoClient, hookimpl

log = open(sys.argv[1], "a", buffering=1)

class Log:
    @hookimpl
    def videoprovider_task_updated(self, task, status, previous):
        log.write(f"poll {task.task_id} {time.monotonic()}\\n")

    @hookimpl
    def videoprovider_task_finished(self, task, status, path):
        log.write(f"finished {task.task_id} {path}\\n")

with VideoClient("fake", journal=True, plugins=[Log()]) as c:
    c.resume(limit=3)
"""


def test_four_workers_share_one_journal_and_collect_each_task_once(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite3"
    env = _env(tmp_path, db)
    env["VIDEOPROVIDER_FAKE_SECONDS"] = "1.5"
    with VideoClient("fake", config=False, environ={}, journal=db, seconds=1.5) as client:
        for i in range(12):
            # Submitted with a target but not waited for: resume() is left to collect them.
            client.submit(f"video {i}", target=tmp_path / f"v{i}.mp4")
    logs = [tmp_path / f"worker{w}.log" for w in range(4)]
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(log)], env=env) for log in logs]
    for w in workers:
        assert w.wait(120) == 0
    seen: dict[str, set[int]] = {}
    finished: dict[str, list[str]] = {}
    for w, log in enumerate(logs):
        for line in log.read_text().splitlines() if log.exists() else []:
            kind, task_id, rest = line.split(" ", 2)
            seen.setdefault(task_id, set()).add(w)
            if kind == "finished":
                finished.setdefault(task_id, []).append(rest)
    assert len(seen) == 12
    assert all(len(workers_) == 1 for workers_ in seen.values()), seen  # one poller per task
    assert all(len(paths) == 1 for paths in finished.values()) and len(finished) == 12
    assert sorted(p.name for p in tmp_path.glob("v*.mp4")) == sorted(f"v{i}.mp4" for i in range(12))
    assert sorted(len([t for t, ws in seen.items() if w in ws]) for w in range(4)) == [3] * 4


def test_library_journaling_is_opt_in(tmp_path: Path) -> None:
    with VideoClient("fake", config=False, environ={}, clock=VirtualClock()) as client:
        assert client.journal is None
        with pytest.raises(Exception, match="needs the journal"):
            client.resume()
    with VideoClient(
        "fake",
        config=False,
        environ={"VIDEOPROVIDER_JOURNAL": "true", "XDG_DATA_HOME": str(tmp_path)},
        clock=VirtualClock(),
        journal=tmp_path / "j.db",
    ) as client:
        task = client.submit("a cat")
        client.wait(task)
        entry = client.journal.get(task.task_id) if client.journal else None
        assert entry is not None and entry.state is TaskState.COMPLETED


def test_rejected_submit_is_journaled_not_lost(tmp_path: Path) -> None:
    from videoprovider import ContentRejected

    with VideoClient(
        "fake",
        config=False,
        environ={},
        clock=VirtualClock(),
        journal=tmp_path / "j.db",
        scenario="reject_content",
    ) as client:
        with pytest.raises(ContentRejected):
            client.submit("a cat")
        assert client.journal is not None
        [entry] = client.journal.entries()
    assert entry.phase is Phase.REJECTED and "ContentRejected" in (entry.error or "")


@pytest.mark.anyio
async def test_a_canceled_task_is_finished_in_the_journal_and_never_resumed(
    tmp_path: Path,
) -> None:
    def client(clock: VirtualClock) -> AsyncVideoClient:
        return AsyncVideoClient(
            "fake", config=False, environ={}, clock=clock, journal=tmp_path / "j.db", seconds=60
        )

    async with client(VirtualClock()) as first:
        task = await first.submit("a cat")
        assert (await first.cancel(task)).state is TaskState.CANCELED
        assert first.journal is not None
        entry = first.journal.get(task.task_id)
        assert entry is not None and entry.phase is Phase.FINISHED
        assert entry.state is TaskState.CANCELED and not entry.unfinished
        assert await first.resume() == []
    # A later process, whose fake never saw the cancel and whose clock says the task would
    # have completed by now, neither waits for the task nor downloads it.
    later_clock = VirtualClock()
    later_clock.advance(3600)
    async with client(later_clock) as later:
        assert await later.resume() == []
        assert (await later.status(task.task_id)).state is TaskState.CANCELED


@pytest.mark.anyio
async def test_resume_saves_into_a_target_folder_instead_of_taking_it_for_the_video(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    clock = VirtualClock()
    async with AsyncVideoClient(
        "fake", config=False, environ={}, clock=clock, journal=tmp_path / "j.db", seconds=60
    ) as client:
        # What generate("a cat", folder) leaves behind when its process dies mid-wait.
        task = await client.submit("a cat", target=folder)
        clock.advance(120)
        (result,) = await client.resume()
    assert result.error is None and result.path is not None
    saved = Path(result.path)
    assert saved.parent == folder and saved.is_file() and saved.read_bytes()[4:8] == b"ftyp"
    assert saved.name == video_name("fake", task.task_id)  # short, and the task's own


@pytest.mark.anyio
async def test_a_new_client_starts_from_the_journals_durations(tmp_path: Path) -> None:
    store = SQLiteJournal(tmp_path / "journal.db")
    for i in range(8):
        entry = store.intent("fake", VideoRequest(prompt="x", model="slow"), None, owner="w")
        store.submitted(entry, Task(provider="fake", task_id=f"t{i}"))
        store.status(
            TaskStatus(
                provider="fake", task_id=f"t{i}", state=TaskState.COMPLETED, video_url="https://v/x"
            )
        )
    store._run("UPDATE videoprovider_journal SET created_ms = updated_ms - 600000")
    async with AsyncVideoClient("fake", journal=store) as client:
        # First polls wait for the learned 600 s (less its spread), not the fake's prior.
        assert client.scheduler.policy.earliest("slow") == pytest.approx(
            600.0 * math.exp(-Z_EARLY * 0.05)
        )
