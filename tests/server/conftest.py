"""A real gateway process on 127.0.0.1 per test, with the fake provider behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason='the gateway needs pip install "videoprovider[server]"')

LAUNCHER = Path(__file__).with_name("launcher.py")
KEY_A = "sk-test-gateway-caller-a"
KEY_B = "sk-test-gateway-caller-b"


@dataclass
class Server:
    """One gateway process; `restart` starts another on the same store and journal."""

    config: Path
    tick: float
    process: subprocess.Popen[str] | None = None
    url: str = ""
    stderr: Path = field(default_factory=Path)

    def start(self) -> Server:
        self.stderr = self.config.with_name(f"stderr-{os.getpid()}-{id(self)}.log")
        self.process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), str(self.config), str(self.tick)],
            stdout=subprocess.PIPE,
            stderr=self.stderr.open("w"),
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the launcher's "port N", or EOF if it died
        if not line.startswith("port "):
            self.process.wait(timeout=60)
            raise RuntimeError(f"the gateway did not start:\n{self.stderr.read_text()}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def restart(self, sig: int = signal.SIGKILL) -> Server:
        self.stop(sig)
        return self.start()


def write_config(
    folder: Path,
    server: str = "",
    extra: str = "",
    database: str | None = None,
    storage: str | None = None,
) -> Path:
    """A config file in `folder` for a gateway keeping everything there (or its store and
    journal in `database`, its videos at `storage`)."""
    path = folder / "videoprovider.toml"
    path.write_text(
        f'journal_url = "{database or folder / "journal.sqlite3"}"\n'
        f"{textwrap.dedent(extra)}\n"
        "[fake]\n"
        f'cancel_file = "{folder / "cancels.sqlite3"}"\n'
        "[server]\n"
        f'database = "{database or folder / "gateway.sqlite3"}"\n'
        f'storage = "{storage or folder / "videos"}"\n'
        "poll_after_ms = 0\n"
        f"{textwrap.dedent(server)}\n"
    )
    path.chmod(0o600)
    return path


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[Server] = []

    def start(
        server: str = "",
        extra: str = "",
        tick: float = 1.0,
        database: str | None = None,
        storage: str | None = None,
    ) -> Server:
        config = write_config(tmp_path, server, extra, database, storage)
        gateway = Server(config, tick).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.stop(signal.SIGKILL)


def keys_table(**limits: str) -> str:
    """Two callers, a and b, with their hashes; `limits` adds TOML lines to caller a."""
    from videoprovider.server.callers import hash_key

    a = "\n".join(f"{k} = {v}" for k, v in limits.items())
    return (
        f'[[server.keys]]\nname = "a"\nhash = "{hash_key(KEY_A)}"\n{a}\n'
        f'[[server.keys]]\nname = "b"\nhash = "{hash_key(KEY_B)}"\n'
    )


from ..journal.conftest import postgres_url  # noqa: E402, F401 - the throwaway server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: an SQLite file, or a fresh database on a throwaway PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "gateway.sqlite3")
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the session's throwaway PostgreSQL server."""
    import uuid

    import sqlalchemy

    server: str = request.getfixturevalue("postgres_url")
    name = f"gw_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(
        server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"
