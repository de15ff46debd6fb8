import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from videoprovider.journal import Journal, SQLiteJournal, open_journal


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_url(unavailable: Callable[[str], Any]) -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1, started for this test session."""
    pg = _pg_bin()
    if pg is None:
        unavailable(
            "PostgreSQL is not installed (Debian: apt-get install postgresql); "
            "the PostgreSQL journal is not tested in this run"
        )
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy missing: pip install .[test]")
    pytest.importorskip("psycopg", reason="psycopg missing: pip install .[test]")
    data = Path(tempfile.mkdtemp(prefix="videoprovider-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server as the postgres user.
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [
            *prefix,
            str(pg / "initdb"),
            "-D",
            str(data / "db"),
            "-A",
            "trust",
            "-U",
            "videoprovider",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *prefix,
            str(pg / "pg_ctl"),
            "-D",
            str(data / "db"),
            "-o",
            options,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://videoprovider@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(pg / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    if request.param == "sqlite":
        store: Journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    else:
        url = request.getfixturevalue("postgres_url")
        store = open_journal(url)
        store._run("DELETE FROM videoprovider_journal")
    yield store
    store.close()
