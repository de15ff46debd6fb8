"""The journal store, on SQLite and (when installed) a real PostgreSQL server."""

import os
import socket
import stat
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from videoprovider.config import InsecurePermissionsWarning
from videoprovider.errors import ConfigurationError
from videoprovider.journal import Journal, Phase, open_journal
from videoprovider.journal.store import SQLAlchemyJournal, SQLiteJournal
from videoprovider.models import Cost, Estimate, Task, TaskState, TaskStatus, VideoRequest

REQUEST = VideoRequest(prompt="a cat", duration=5)


def status(task_id: str, state: TaskState, **kw: object) -> TaskStatus:
    return TaskStatus(provider="fake", task_id=task_id, state=state, **kw)  # type: ignore[arg-type]


def test_a_generation_from_intent_to_collected(journal: Journal) -> None:
    entry = journal.intent("fake", REQUEST, "/videos/cat.mp4", owner="w1")
    [row] = journal.entries()
    assert (row.phase, row.task_id, row.request, row.target_path) == (
        Phase.INTENT,
        None,
        REQUEST,
        "/videos/cat.mp4",
    )
    journal.submitted(entry, Task(provider="fake", task_id="t1", request=REQUEST))
    assert journal.unfinished()[0].task_id == "t1"
    journal.status(status("t1", TaskState.PROCESSING, progress=40))
    got = journal.get("t1")
    assert got is not None and (got.phase, got.state, got.progress) == (
        Phase.SUBMITTED,
        TaskState.PROCESSING,
        40,
    )
    expires = datetime.now(timezone.utc) + timedelta(hours=24)
    journal.status(
        status("t1", TaskState.COMPLETED, video_url="https://v/x.mp4", video_url_expires_at=expires)
    )
    done = journal.get(entry)
    assert done is not None and done.phase is Phase.FINISHED and done.unfinished
    assert abs((done.video_url_expires_at - expires).total_seconds()) < 0.01  # type: ignore[operator]
    journal.collected("fake", "t1", "/videos/cat.mp4")
    final = journal.get("t1")
    assert final is not None and final.phase is Phase.COLLECTED and not final.unfinished
    assert journal.unfinished() == []


def test_failed_submits_are_kept_with_their_reason(journal: Journal) -> None:
    a = journal.intent("fake", REQUEST, None, owner="w1")
    b = journal.intent("fake", REQUEST, None, owner="w1")
    journal.submit_failed(a, Phase.REJECTED, "RequestRejected: bad size")
    journal.submit_failed(b, Phase.OUTCOME_UNKNOWN, "SubmitOutcomeUnknown: no reply")
    phases = {e.id: (e.phase, e.error) for e in journal.entries()}
    assert phases[a] == (Phase.REJECTED, "RequestRejected: bad size")
    assert phases[b] == (Phase.OUTCOME_UNKNOWN, "SubmitOutcomeUnknown: no reply")
    assert journal.unfinished() == []


def test_leases_exclude_other_workers_until_they_expire(journal: Journal) -> None:
    entry = journal.intent("fake", REQUEST, None, owner="w0")
    journal.submitted(entry, Task(provider="fake", task_id="t1"))
    assert journal.acquire(entry, "elsewhere:1:a", ttl=60)
    assert journal.acquire(entry, "elsewhere:1:a", ttl=60)  # renewal
    assert not journal.acquire(entry, "elsewhere:2:b", ttl=60)
    journal.release(entry, "elsewhere:2:b")  # not the holder: no effect
    assert not journal.acquire(entry, "elsewhere:2:b", ttl=60)
    journal.release(entry, "elsewhere:1:a")
    assert journal.acquire(entry, "elsewhere:2:b", ttl=-1)  # already expired
    assert journal.acquire(entry, "elsewhere:3:c", ttl=60)


def test_a_dead_local_workers_lease_is_taken_over_at_once(journal: Journal) -> None:
    import socket

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    entry = journal.intent("fake", REQUEST, None, owner="x")
    journal.submitted(entry, Task(provider="fake", task_id="t1"))
    assert journal.acquire(entry, f"{socket.gethostname()}:{dead}:zz", ttl=3600)
    assert journal.acquire(entry, f"{socket.gethostname()}:{os.getpid()}:me", ttl=60)


def test_an_intent_whose_process_died_becomes_outcome_unknown(journal: Journal) -> None:
    import socket

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    alive = journal.intent("fake", REQUEST, None, owner=f"{socket.gethostname()}:{os.getpid()}:a")
    gone = journal.intent("fake", REQUEST, None, owner=f"{socket.gethostname()}:{dead}:b")
    phases = {e.id: e.phase for e in journal.entries()}
    assert phases == {alive: Phase.INTENT, gone: Phase.OUTCOME_UNKNOWN}
    assert "may exist" in (journal.get(gone).error or "")  # type: ignore[union-attr]


def test_filters_get_and_prune(journal: Journal) -> None:
    ids = []
    for n, state in enumerate((TaskState.COMPLETED, TaskState.FAILED, TaskState.PROCESSING)):
        entry = journal.intent("fake", REQUEST, None, owner="w")
        journal.submitted(entry, Task(provider="fake", task_id=f"t{n}"))
        journal.status(status(f"t{n}", state))
        ids.append(entry)
    assert [e.task_id for e in journal.entries(state=TaskState.FAILED)] == ["t1"]
    assert [e.task_id for e in journal.entries(phase=Phase.SUBMITTED)] == ["t2"]
    assert journal.get(ids[0]) == journal.get("t0") and journal.get("nope") is None
    assert journal.prune(older_than=3600) == 0
    assert journal.prune(older_than=-1) == 2  # finished ones only; the open task stays
    assert [e.task_id for e in journal.entries()] == ["t2"]


def test_video_expiry_warnings() -> None:
    from videoprovider.journal import JournalEntry

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    base = {
        "id": "e",
        "provider": "fake",
        "task_id": "t",
        "request": REQUEST,
        "created_at": now,
        "updated_at": now,
        "phase": Phase.FINISHED,
    }
    assert (
        JournalEntry(**base, video_url_expires_at=now + timedelta(hours=1)).video_expiry(now)
        == "soon"
    )
    assert (
        JournalEntry(**base, video_url_expires_at=now - timedelta(seconds=1)).video_expiry(now)
        == "lost"
    )
    assert (
        JournalEntry(**base, video_url_expires_at=now + timedelta(hours=20)).video_expiry(now)
        is None
    )


def test_open_journal_by_url_or_path(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    assert isinstance(open_journal(folder / "a.db"), SQLiteJournal)
    assert isinstance(open_journal(f"sqlite:///{folder / 'b.db'}"), SQLiteJournal)
    assert (folder / "b.db").exists()


def test_postgresql_url_uses_sqlalchemy(postgres_url: str) -> None:
    store = open_journal(postgres_url)
    assert isinstance(store, SQLAlchemyJournal)
    store.close()


def test_journal_url_password_is_masked_in_config_reports() -> None:
    from videoprovider.config import load_config, redacted

    core = load_config(
        config=False,
        environ={"VIDEOPROVIDER_JOURNAL_URL": "postgresql://app:hunter2@db.internal/video"},
    ).core
    assert redacted(core)["journal_url"] == "postgresql://***@db.internal/video"


def finished_task(
    journal: Journal, task_id: str, model: str, seconds: float, state: TaskState
) -> None:
    entry = journal.intent("fake", VideoRequest(prompt="x", model=model), None, owner="w1")
    journal.submitted(entry, Task(provider="fake", task_id=task_id))
    journal.status(
        status(task_id, state, video_url="https://v/x.mp4" if state.value == "COMPLETED" else None)
    )
    # Backdate the intent: the journal times rows on the wall clock.
    journal._run(
        "UPDATE videoprovider_journal SET created_ms = updated_ms - :ms WHERE task_id = :t",
        {"ms": int(seconds * 1000), "t": task_id},
    )


def test_durations_of_completed_tasks_feed_the_poll_policy(journal: Journal) -> None:
    finished_task(journal, "a", "wan2.6-t2v", 120.0, TaskState.COMPLETED)
    finished_task(journal, "b", "wan2.6-t2v", 80.0, TaskState.COMPLETED)
    finished_task(journal, "c", "wan2.6-t2v", 5.0, TaskState.FAILED)  # not a duration
    journal.collected("fake", "a", "/videos/a.mp4")
    got = sorted((model, round(seconds)) for model, seconds in journal.durations("fake"))
    assert got == [("wan2.6-t2v", 80), ("wan2.6-t2v", 120)]  # collecting "a" came ms later
    assert journal.durations("other") == [] and len(journal.durations("fake", limit=1)) == 1


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
@pytest.mark.usefixtures("umask_022")
def test_the_default_journal_is_private_to_its_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = open_journal()
    store.intent("fake", REQUEST, "/videos/cat.mp4", owner="w1")
    folder = tmp_path / "data" / "videoprovider"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["journal.sqlite3", "journal.sqlite3-shm", "journal.sqlite3-wal"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    store.close()


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
@pytest.mark.usefixtures("umask_022")
def test_an_existing_readable_journal_is_kept_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    open_journal(path).close()
    path.chmod(0o644)
    with pytest.warns(InsecurePermissionsWarning, match="chmod 600") as record:
        open_journal(path).close()
        open_journal(path).close()
    assert len([w for w in record if w.category is InsecurePermissionsWarning]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_the_journal_package_is_storage_and_never_imports_the_client() -> None:
    import ast

    import videoprovider.journal

    folder = Path(videoprovider.journal.__file__).parent
    imported = set()
    for module in folder.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add((node.level, node.module or ""))
    assert not any(name.split(".")[0] in ("client", "sync", "resume") for _, name in imported)
    assert not (folder / "resume.py").exists()


OLD_SCHEMA = """CREATE TABLE videoprovider_journal (
    id VARCHAR(32) PRIMARY KEY, provider VARCHAR(100) NOT NULL, task_id VARCHAR(200),
    phase VARCHAR(20) NOT NULL, state VARCHAR(20), progress INTEGER,
    request_json TEXT NOT NULL, target_path TEXT, path TEXT, error TEXT,
    video_url_expires_ms BIGINT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    lease_owner VARCHAR(200), lease_expires_ms BIGINT)"""
OLD_ROW = (
    "INSERT INTO videoprovider_journal (id, provider, task_id, phase, request_json, "
    "created_ms, updated_ms) VALUES ('old1', 'fake', 't-old', 'submitted', "
    """'{"prompt": "a cat"}', 1, 1)"""
)


def test_a_journal_from_before_costs_gains_their_columns_and_keeps_its_entries(
    journal: Journal,
) -> None:
    journal._run("DROP TABLE videoprovider_journal")
    journal._run(OLD_SCHEMA)
    journal._run(OLD_ROW)
    again = open_journal(journal.url)
    try:
        [old] = again.entries()
        assert (old.task_id, old.estimate, old.actual_cost, old.cost) == ("t-old", None, None, None)
        found = Estimate(amount=Decimal("0.50"), currency="USD", basis="5 s at 0.10 USD/s")
        again.intent("fake", REQUEST, None, "w1", estimate=found)
        new = next(e for e in again.entries() if e.id != "old1")
        assert (new.estimate, new.currency, new.cost_basis) == (
            Decimal("0.50"),
            "USD",
            "5 s at 0.10 USD/s",
        )
        open_journal(journal.url).close()  # opening a migrated journal changes nothing
    finally:
        again.close()


def test_a_completion_records_its_actual_cost_next_to_the_estimate(journal: Journal) -> None:
    found = Estimate(amount=Decimal("0.50"), currency="USD", basis="5 s at 0.10 USD/s")
    entry = journal.intent("fake", REQUEST, None, "w1", estimate=found)
    journal.submitted(entry, Task(provider="fake", task_id="t1", request=REQUEST))
    actual = Cost(amount=Decimal("0.30"), currency="USD", basis="3 s at 0.10 USD/s", actual=True)
    journal.status(status("t1", TaskState.COMPLETED, cost=actual))
    got = journal.get("t1")
    assert got is not None
    assert (got.estimate, got.actual_cost, got.cost) == (
        Decimal("0.50"),
        Decimal("0.30"),
        Decimal("0.30"),
    )
    assert got.cost_basis == "3 s at 0.10 USD/s"


def _plan(store: SQLiteJournal, call: Callable[[], object]) -> list[str]:
    """SQLite's query plan for every SELECT that `call` makes on `store`."""
    issued: list[tuple[str, Mapping[str, object]]] = []
    query = store._query

    def spy(sql: str, params: Mapping[str, object] | None = None) -> list[Sequence[object]]:
        issued.append((sql, params or {}))
        return query(sql, params)

    store._query = spy  # type: ignore[method-assign]
    call()
    store._query = query  # type: ignore[method-assign]
    return [str(row[-1]) for sql, p in issued for row in query("EXPLAIN QUERY PLAN " + sql, p)]


def test_task_lookups_use_an_index_not_a_scan_even_in_an_old_journal(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = SQLiteJournal(path)
    old._run("DROP INDEX videoprovider_journal_task_id")  # as opened by an older release
    old.close()
    store = SQLiteJournal(path)
    store.submitted(store.intent("fake", REQUEST, None, "w1"), Task(provider="fake", task_id="t1"))
    by_task = _plan(store, lambda: store.task("fake", "t1"))
    assert by_task and all("USING INDEX videoprovider_journal_task " in p for p in by_task)
    by_key = _plan(store, lambda: store.get("t1"))  # a journal id or a task id
    assert by_key and not any(p.startswith("SCAN") for p in by_key), by_key
    assert any("videoprovider_journal_task_id" in p for p in by_key)
    found = store.task("fake", "t1")
    assert found is not None and store.task("other", "t1") is None
    store.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/proc/nope/j.sqlite3", "cannot hold the journal"),
        ("{tmp}", "is a folder"),
        ("{tmp}/not-a-db", "file is not a database"),
    ],
)
def test_a_path_that_cannot_hold_the_journal_is_a_configuration_error(
    tmp_path: Path, url: str, says: str
) -> None:
    (tmp_path / "not-a-db").write_text("hello, not SQLite" * 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no chmod advice for what is no journal
        with pytest.raises(ConfigurationError, match="journal_url") as info:
            open_journal(url.format(tmp=tmp_path))
    assert says in str(info.value)
    if url == "{tmp}":
        assert str(tmp_path / "journal.sqlite3") in str(info.value.hint)


def test_a_url_of_an_unsupported_database_names_the_supported_ones() -> None:
    with pytest.raises(ConfigurationError, match="journal_url") as info:
        open_journal("mysql://app:hunter2@db/video")
    message = f"{info.value} {info.value.hint}"
    assert "'mysql://***@db/video'" in message and "hunter2" not in message
    assert "SQLite and PostgreSQL" in message and "postgresql://" in message


def test_an_unreachable_postgresql_url_is_shown_masked_with_its_scheme() -> None:
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigurationError, match="journal_url") as info:
        open_journal(f"postgresql://app:hunter2@127.0.0.1:{port}/video")
    assert f"'postgresql://***@127.0.0.1:{port}/video'" in str(info.value)
    assert "hunter2" not in f"{info.value} {info.value.hint}"
