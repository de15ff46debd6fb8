"""A key's request rate is the gateway's, not each process's: the bucket lives in the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from videoprovider.config import load_config
from videoprovider.server import create_app
from videoprovider.testing.clocks import HeldClock

from .conftest import KEY_A, KEY_B, keys_table, write_config

A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


class Replica:
    """One gateway app on the shared store, with its own clock: replicas agree on the wall
    time, not on one clock object (each app's event loop sleeps on its own)."""

    def __init__(self, client: TestClient, clock: HeldClock) -> None:
        self.client, self.clock = client, clock

    def get(self, headers: dict[str, str]) -> int:
        return self.client.get("/v1/videos", headers=headers).status_code

    def advance(self, seconds: float) -> None:
        assert self.client.portal is not None
        self.client.portal.call(self.clock.advance, seconds)


@pytest.fixture
def replicas(tmp_path: Path, database: str) -> Iterator[tuple[Replica, Replica]]:
    # The SQLite case keeps the store and the journal in tmp_path (both apps read the one
    # config file); the PostgreSQL case puts both in the fresh database.
    shared = None if database.startswith(str(tmp_path)) else database
    config = write_config(tmp_path, keys_table(rate_per_minute="6"), database=shared)
    with ExitStack() as stack:
        made = []
        for _ in range(2):
            clock = HeldClock()
            app = create_app(load_config(config=config), clock=clock)
            made.append(Replica(stack.enter_context(TestClient(app)), clock))
        yield made[0], made[1]


def test_two_replicas_together_allow_the_keys_rate_then_refill(
    replicas: tuple[Replica, Replica],
) -> None:
    one, two = replicas
    # 6 a minute, up to 6 at once: six requests spread over both replicas fill it.
    assert [r.get(A) for r in (one, two, one, two, one, two)] == [200] * 6
    for replica in (one, two):
        refused = replica.client.get("/v1/videos", headers=A)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert one.get(B) == 200  # another key has its own bucket (none: no rate)
    # One request per 10 s comes back, whichever replica it is spent on.
    for replica in (one, two):
        replica.advance(10)
    assert two.get(A) == 200
    assert one.get(A) == 429
    for replica in (one, two):
        replica.advance(60)
    assert [r.get(A) for r in (two, one, two, one, two, one, two)] == [200] * 6 + [429]
