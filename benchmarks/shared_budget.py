"""Four worker processes on one journal, one account: do they hold the account's budget?

    python benchmarks/shared_budget.py [--scale 60] [--tasks 2000] [--workers 4]
        [--postgres-url URL] [--out benchmarks/results/shared_budget.json]

A DashScope emulator process on 127.0.0.1 runs on a clock compressed `--scale` times (task
durations log-normal, median 90 s, sigma 0.5, as in track_many.py) and enforces 20 task
queries per second per key on that clock (20 x scale per real second), counting status
requests in a sliding one-second window. One process submits `--tasks` tasks into a fresh
journal, each with a target file; then `--workers` processes run `resume(limit=N/workers)`
on that journal at once, every one configured with the whole account budget, as a user
would. Prints the emulator's busiest second against the budget, the throttled requests and
the videos collected, for SQLite and for PostgreSQL (a throwaway server started with the
installed initdb, or `--postgres-url`). `--unshared` adds the same runs with budget sharing
switched off in the workers, as before it existed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEY = "sk-test-benchmark"
MEDIAN, SIGMA, ACCOUNT_QPS = 90.0, 0.5, 20.0


def client_args(base: str, scale: float) -> dict[str, Any]:
    return {
        "config": False,
        "environ": {},
        "api_key": KEY,
        "base_url": base,
        "model": "wan2.6-t2v",
        "poll_interval": 2.0 / scale,
        "poll_max_interval": 15.0 / scale,
        "poll_typical_seconds": 120.0 / scale,
        "poll_budget": ACCOUNT_QPS * scale,
    }


async def submit_all(journal: str, base: str, n: int, scale: float, folder: str) -> None:
    from videoprovider import AsyncVideoClient

    async with AsyncVideoClient("dashscope", journal=journal, **client_args(base, scale)) as c:
        gate = asyncio.Semaphore(64)

        async def one(i: int) -> None:
            async with gate:
                await c.submit(f"task {i}", target=f"{folder}/v{i}.mp4")

        await asyncio.gather(*(one(i) for i in range(n)))


async def resume(journal: str, base: str, limit: int, scale: float, shared: bool) -> dict[str, Any]:
    from videoprovider import AsyncVideoClient

    async with AsyncVideoClient("dashscope", journal=journal, **client_args(base, scale)) as c:
        if not shared:
            c.scheduler.share = None  # as before budget sharing: each worker spends it all
        results = await c.resume(limit=limit, timeout=None)
    return {
        "collected": sum(1 for r in results if r.path),
        "errors": [str(r.error) for r in results if r.error][:3],
        "skipped": sum(1 for r in results if r.skipped),
    }


def worker(argv: list[str]) -> None:
    role, journal, base, n, scale = argv[0], argv[1], argv[2], int(argv[3]), float(argv[4])
    start = time.monotonic()
    if role == "submit":
        asyncio.run(submit_all(journal, base, n, scale, argv[5]))
        out: dict[str, Any] = {}
    else:
        out = asyncio.run(resume(journal, base, n, scale, shared=argv[5] == "shared"))
    print(json.dumps({**out, "wall": time.monotonic() - start}))


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise RuntimeError(err[-2000:])
    return dict(json.loads(out.strip().splitlines()[-1]))


def scenario(
    label: str, journal: str, n: int, workers: int, scale: float, shared: bool, folder: Path
) -> dict[str, Any]:
    from videoprovider_dashscope.emulator import run_subprocess

    videos = folder / "videos"
    videos.mkdir()
    qps = ACCOUNT_QPS * scale
    args = ["--api-key", KEY, "--task-seconds", str(MEDIAN), "--sigma", str(SIGMA)]
    args += ["--time-scale", str(scale), "--qps-limit", str(qps), "--no-record", "--seed", "7"]
    with run_subprocess(*args) as emu:
        finish(child("submit", journal, emu.base_url, str(n), str(scale), str(videos)))
        start = time.monotonic()
        procs = [
            child(
                "resume",
                journal,
                emu.base_url,
                str(-(-n // workers)),
                str(scale),
                "shared" if shared else "unshared",
            )
            for _ in range(workers)
        ]
        runs = [finish(p) for p in procs]
        wall = time.monotonic() - start
        stats = emu.stats()
    return {
        "journal": label,
        "sharing": shared,
        "tasks": n,
        "workers": workers,
        "collected": sum(r["collected"] for r in runs),
        "files": len(list(videos.iterdir())),
        "status_requests": stats["counts"].get("status", 0),
        "peak_status_rps": stats["peak_status_per_second"],
        "budget_rps": qps,
        "throttled": stats["throttled"],
        "wall_s": wall,
        "errors": [e for r in runs for e in r["errors"]][:3],
    }


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A PostgreSQL server on 127.0.0.1 from the installed initdb (as tests/journal/conftest.py
    starts one), or None when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found[-1]:
        yield None
        return
    pg = Path(str(found[-1])).parent
    data = Path(tempfile.mkdtemp(prefix="videoprovider-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = str(data / "db")
    initdb = [str(pg / "initdb"), "-D", db, "-A", "trust", "-U", "videoprovider", "--no-sync"]
    subprocess.run([*prefix, *initdb], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200"
    ctl = [str(pg / "pg_ctl"), "-D", db, "-o", options, "-l", str(data / "log"), "-w", "start"]
    subprocess.run([*prefix, *ctl], check=True, capture_output=True)
    try:
        yield f"postgresql://videoprovider@127.0.0.1:{port}/postgres"
    finally:
        stop = [str(pg / "pg_ctl"), "-D", db, "-m", "immediate", "stop"]
        subprocess.run([*prefix, *stop], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def reset_postgres(url: str) -> None:
    from videoprovider.journal import open_journal

    journal = open_journal(url)
    journal._run("DELETE FROM videoprovider_journal")
    journal.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--postgres-url", help="default: a throwaway server, if installed")
    parser.add_argument("--unshared", action="store_true", help="also run without sharing")
    parser.add_argument("--out", default="benchmarks/results/shared_budget.json")
    args = parser.parse_args()
    rows = []
    modes = [True, False] if args.unshared else [True]
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres() as started:
        postgres = args.postgres_url or started
        for shared in modes:
            folder = Path(tmp) / f"sqlite-{shared}"
            folder.mkdir()
            journal = str(folder / "journal.sqlite3")
            print(f"running sqlite shared={shared} ...", file=sys.stderr, flush=True)
            rows.append(
                scenario("SQLite", journal, args.tasks, args.workers, args.scale, shared, folder)
            )
            if postgres is None:
                print("PostgreSQL: not installed, skipped", file=sys.stderr)
                continue
            reset_postgres(postgres)
            folder = Path(tmp) / f"pg-{shared}"
            folder.mkdir()
            print(f"running postgresql shared={shared} ...", file=sys.stderr, flush=True)
            rows.append(
                scenario(
                    "PostgreSQL", postgres, args.tasks, args.workers, args.scale, shared, folder
                )
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"scale": args.scale, "rows": rows}, indent=2))
    print(f"Time compressed {args.scale:g}x; budget {ACCOUNT_QPS:g} x scale per real second.\n")
    print(
        "| journal | budget shared | tasks | workers | collected | files | status requests "
        "| busiest second (budget) | throttled | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['journal']} | {'yes' if r['sharing'] else 'no'} | {r['tasks']} | "
            f"{r['workers']} | {r['collected']} | {r['files']} | {r['status_requests']} | "
            f"{r['peak_status_rps']} ({r['budget_rps']:.0f}) | {r['throttled']} | "
            f"{r['wall_s']:.1f} |"
        )
        for error in r["errors"]:
            print(f"  error: {error}")


if __name__ == "__main__":
    main()
