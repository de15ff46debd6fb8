"""Two gateway processes on one PostgreSQL database and one DashScope account: is every
video collected once, stored once, and the account never throttled?

    pip install ".[server,postgres]"
    python benchmarks/gateway_replicas.py [-n 2000] [--task-seconds 20] [--quick]
        [--replicas 1] [--start-together] [--postgres-url URL] [--keep DIR]
        [--out benchmarks/results/gateway_replicas.json]

A throwaway PostgreSQL server (the installed initdb, as tests/journal/conftest.py starts
one; or `--postgres-url`, whose tables are emptied) holds both gateways' store and their task
journal. A DashScope emulator process on 127.0.0.1 runs on the real clock (task durations
log-normal, median `--task-seconds`, sigma 0.5), enforces DashScope's 20 task queries per
second per key (status and listing requests, in a sliding second) and answers 429 above
it, and records every request. Two `videoprovider serve` processes on 127.0.0.1 share one
config file (the emulator as the `dashscope` provider, the database) and each stores its
videos in its own folder, so a video stored twice shows up as two files. The script
creates `-n` videos over HTTP, 50 at a time, alternating between the two gateways, then
waits (reading the store's table once a second) until none is open, and checks every
video through the gateway that did not create it.

Checked and printed: each task submitted once and its video downloaded from the emulator
once (its request log), no 429, one stored file and one `completed` row per video; plus the
wall time, provider requests per task and each replica's figures. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from itertools import count
from pathlib import Path
from typing import Any

from gateway_overhead import free_port, proc_cpu, proc_peak_rss_mb, wait_ready
from shared_budget import throwaway_postgres

KEY = "sk-test-benchmark"
CALLER_KEY = "sk-test-benchmark-caller"
MODEL = "dashscope/wan2.6-t2v"
SIGMA, ACCOUNT_QPS, CONCURRENCY = 0.5, 20.0, 50


def write_config(folder: Path, database: str, emulator: str) -> Path:
    path = folder / "videoprovider.toml"
    path.write_text(
        f'journal_url = "{database}"\n'
        "download_allow_private = true\n"  # the emulator's video URLs are on 127.0.0.1
        f'[dashscope]\napi_key = "{KEY}"\nbase_url = "{emulator}"\n'
        f'[server]\ndatabase = "{database}"\ndefault_model = "{MODEL}"\n'
    )
    path.chmod(0o600)
    return path


class Replica:
    """One `videoprovider serve` process, storing its videos in its own folder."""

    def __init__(self, name: str, config: Path, folder: Path) -> None:
        self.name = name
        self.videos = folder / f"videos-{name}"
        self.log = folder / f"gateway-{name}.log"
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            "VIDEOPROVIDER_CONFIG": str(config),
            "VIDEOPROVIDER_SERVER_STORAGE": str(self.videos),
        }
        port = self.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "videoprovider.cli", "serve", "--port", port]
        with self.log.open("wb") as errors:
            self.process = subprocess.Popen(command, stdout=errors, stderr=errors, env=env)

    def wait_ready(self) -> None:
        wait_ready(self.url, self.process, self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def create_all(urls: list[str], n: int) -> tuple[dict[str, int], list[float], list[str]]:
    """Create `n` videos, CONCURRENCY at a time, video i through gateway i % len(urls)."""
    import httpx

    made: dict[str, int] = {}
    latencies: list[float] = []
    errors: list[str] = []
    numbers = count()
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
        limits=httpx.Limits(max_connections=CONCURRENCY),
        timeout=httpx.Timeout(60.0),
    ) as http:

        async def caller() -> None:
            while (i := next(numbers)) < n:
                replica = i % len(urls)
                start = time.monotonic()
                answer = await http.post(f"{urls[replica]}/v1/videos", json={"prompt": f"task {i}"})
                latencies.append(time.monotonic() - start)
                if answer.status_code != 200:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                    continue
                made[answer.json()["id"]] = replica

        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return made, latencies, errors


async def check_all(urls: list[str], made: dict[str, int]) -> Counter[str]:
    """Each video's status and content through the gateway that did not create it."""
    import httpx

    seen: Counter[str] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {CALLER_KEY}"}, timeout=httpx.Timeout(60.0)
    ) as http:

        async def one(video_id: str, replica: int) -> None:
            other = urls[(replica + 1) % len(urls)]
            async with gate:
                status = (await http.get(f"{other}/v1/videos/{video_id}")).json()["status"]
                seen[status] += 1
                if status == "completed":
                    content = await http.get(f"{other}/v1/videos/{video_id}/content")
                    ok = content.status_code == 200 and content.content[4:8] == b"ftyp"
                    seen["content ok" if ok else "content missing"] += 1

        await asyncio.gather(*(one(v, r) for v, r in made.items()))
    return seen


def store_counts(database: str) -> dict[str, Any]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(
                    sqlalchemy.text("SELECT status, COUNT(*) FROM gateway_videos GROUP BY status")
                ).all()
            )
            span = conn.execute(
                sqlalchemy.text("SELECT MIN(created_ms), MAX(completed_ms) FROM gateway_videos")
            ).one()
            stored = conn.execute(
                sqlalchemy.text("SELECT COUNT(*) FROM gateway_videos WHERE path IS NOT NULL")
            ).scalar_one()
            failed = conn.execute(
                sqlalchemy.text(
                    "SELECT id, task_id, error_code, error_message FROM gateway_videos "
                    "WHERE status = 'failed' ORDER BY id LIMIT 20"
                )
            ).all()
            journaled = conn.execute(
                sqlalchemy.text("SELECT COUNT(*) FROM videoprovider_journal")
            ).scalar_one()
    finally:
        engine.dispose()
    return {
        "statuses": {str(k): int(v) for k, v in statuses.items()},
        "first_created_ms": span[0],
        "last_completed_ms": span[1],
        "rows_with_file": int(stored),
        "journaled": int(journaled),
        "failed_rows": [
            {"id": r[0], "task_id": r[1], "error_code": r[2], "error_message": (r[3] or "")[:400]}
            for r in failed
        ],
    }


def empty_tables(database: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            names = sqlalchemy.inspect(conn).get_table_names()
            for name in names:
                if name.startswith(("gateway_", "videoprovider_")):
                    conn.execute(sqlalchemy.text(f"DELETE FROM {name}"))
    finally:
        engine.dispose()


def run(
    n: int,
    task_seconds: float,
    database: str,
    folder: Path,
    together: bool = False,
    replicas: int = 2,
) -> dict[str, Any]:
    from videoprovider_dashscope.emulator import run_subprocess

    args = ["--api-key", KEY, "--task-seconds", str(task_seconds), "--sigma", str(SIGMA)]
    args += ["--qps-limit", str(ACCOUNT_QPS), "--seed", "7"]
    with run_subprocess(*args) as emu:
        config = write_config(folder, database, emu.base_url)
        gateways: list[Replica] = []
        try:
            # One after the other: two gateways starting at once on an empty PostgreSQL
            # database race on creating the store's tables (see --start-together).
            for name in "ab"[:replicas]:
                gateways.append(Replica(name, config, folder))
                if not together:
                    gateways[-1].wait_ready()
            for replica in gateways:
                replica.wait_ready()
            cpu_before = [proc_cpu(r.process.pid) for r in gateways]
            urls = [r.url for r in gateways]
            start = time.monotonic()
            made, latencies, errors = asyncio.run(create_all(urls, n))
            created_s = time.monotonic() - start
            print(f"created {len(made)} in {created_s:.1f} s; waiting ...", file=sys.stderr)
            deadline = time.monotonic() + max(900.0, 30 * task_seconds)
            while time.monotonic() < deadline:
                counts = store_counts(database)["statuses"]
                if not any(counts.get(s, 0) for s in ("submitting", "queued", "in_progress")):
                    break
                time.sleep(1.0)
            wall = time.monotonic() - start
            cpu = [proc_cpu(r.process.pid) - b for r, b in zip(gateways, cpu_before, strict=True)]
            rss = [proc_peak_rss_mb(r.process.pid) for r in gateways]
            store = store_counts(database)
            checks_from = time.monotonic()
            checked = asyncio.run(check_all(urls, made))
            stats = emu.stats()
            log = emu.requests()
        finally:
            for replica in gateways:
                replica.stop()
    submits = sum(1 for r in log if r["method"] == "POST" and "video-synthesis" in r["path"])
    downloads = Counter(
        r["path"].removeprefix("/videos/").removesuffix(".mp4")
        for r in log
        if r["path"].startswith("/videos/")
    )
    files = {r.name: {p.stem for p in r.videos.glob("*.mp4")} for r in gateways}
    # What the gateways logged besides their access log: lost leases, paused trackers.
    logged = {
        r.name: [
            line
            for line in r.log.read_text(errors="replace").splitlines()
            if "HTTP/1.1" not in line and not line.startswith("INFO:")
        ]
        for r in gateways
    }
    in_both = set.intersection(*files.values()) if len(files) > 1 else set()
    twice = {t for t, c in downloads.items() if c > 1}
    suspects = in_both | twice | {r["task_id"] for r in store["failed_rows"] if r["task_id"]}
    # The emulator stamps each request with the system-wide monotonic clock, as we do.
    queries = [r for r in log if r["path"].startswith("/api/v1/tasks") and r["method"] == "GET"]
    per_second = Counter(int(r["at"] - start) for r in queries if r["at"] < checks_from)
    per_task = Counter(r["path"] for r in queries if r["path"].startswith("/api/v1/tasks/"))
    counts = stats["counts"]
    provider_requests = sum(counts.values())
    tasks = len(made)
    per_replica = []
    for i, replica in enumerate(gateways):
        mine = [v for v, r in made.items() if r == i]
        per_replica.append(
            {
                "replica": replica.name,
                "created": len(mine),
                "stored_here": len(files[replica.name]),
                "stored_here_of_its_own": len(files[replica.name] & set(mine)),
                "cpu_s": cpu[i],
                "cpu_ms_per_task": 1000 * cpu[i] / max(1, len(mine)),
                "peak_rss_mb": rss[i],
                "warnings": len(logged[replica.name]),
                "lost_leases": sum("lost the lease" in line for line in logged[replica.name]),
                "paused_trackers": sum("paused" in line for line in logged[replica.name]),
                "log_excerpt": logged[replica.name][:20],
            }
        )
    return {
        "n": n,
        "task_seconds": task_seconds,
        "created": tasks,
        "create_errors": errors[:5],
        "create_p50_ms": 1000 * _quantile(latencies, 0.5),
        "create_p99_ms": 1000 * _quantile(latencies, 0.99),
        "created_in_s": created_s,
        "wall_s": wall,
        "store": store,
        "checked_through_other_replica": dict(checked),
        "submits": submits,
        "downloads": sum(downloads.values()),
        "tasks_downloaded": len(downloads),
        "tasks_downloaded_twice_or_more": sorted(t for t, c in downloads.items() if c > 1),
        "files": sum(len(f) for f in files.values()),
        "videos_in_both_folders": sorted(in_both),
        "logged_about_them": {
            name: [line[:400] for line in lines if any(v in line for v in suspects)][:40]
            for name, lines in logged.items()
        },
        "throttled": stats["throttled"],
        "busiest_second": stats["peak_status_per_second"],
        "budget": ACCOUNT_QPS,
        "provider_counts": counts,
        "provider_requests_per_task": provider_requests / max(1, tasks),
        "task_queries_per_task": (counts.get("status", 0) + counts.get("list", 0)) / max(1, tasks),
        "task_queries_during_checks": sum(1 for r in queries if r["at"] >= checks_from),
        "task_queries_per_second": [per_second.get(i, 0) for i in range(int(wall) + 1)],
        "status_requests_per_task_histogram": dict(sorted(Counter(per_task.values()).items())),
        "replicas": per_replica,
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def verdicts(r: dict[str, Any]) -> list[tuple[str, bool, str]]:
    n, store = r["n"], r["store"]
    completed = store["statuses"].get("completed", 0)
    return [
        ("every video created", r["created"] == n, f"{r['created']:,} of {n:,}"),
        ("each task submitted once", r["submits"] == n, f"{r['submits']:,} submits"),
        (
            "each video collected exactly once (emulator downloads)",
            r["tasks_downloaded"] == n and not r["tasks_downloaded_twice_or_more"],
            f"{r['tasks_downloaded']:,} tasks downloaded, {r['downloads']:,} downloads, "
            f"{len(r['tasks_downloaded_twice_or_more'])} more than once",
        ),
        ("never throttled", r["throttled"] == 0, f"{r['throttled']} answered 429"),
        (
            "each video stored exactly once (files)",
            r["files"] == n and not r["videos_in_both_folders"],
            f"{r['files']:,} files, {len(r['videos_in_both_folders'])} in both folders",
        ),
        (
            "each video one completed row with its file (store)",
            completed == n and store["rows_with_file"] == n,
            f"{completed:,} completed, {store['rows_with_file']:,} with a file, "
            f"statuses {store['statuses']}",
        ),
        (
            "each video completed through the other replica",
            r["checked_through_other_replica"].get("content ok", 0) == n,
            ", ".join(f"{k} {v:,}" for k, v in r["checked_through_other_replica"].items()),
        ),
        ("one journal entry per task", store["journaled"] == n, f"{store['journaled']:,} rows"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--tasks", "--scale", type=int, default=2000, dest="tasks")
    parser.add_argument(
        "--task-seconds", type=float, default=20.0, help="median task duration, seconds"
    )
    parser.add_argument("--quick", action="store_true", help="200 tasks of median 10 s")
    parser.add_argument("--postgres-url", help="default: a throwaway server")
    parser.add_argument(
        "--start-together",
        action="store_true",
        help="start both gateways at once instead of one after the other",
    )
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=2)
    parser.add_argument("--keep", help="work in this folder and keep it (the gateways' logs)")
    parser.add_argument("--out", default="benchmarks/results/gateway_replicas.json")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.task_seconds = 200, 10.0
    with tempfile.TemporaryDirectory() as scratch, throwaway_postgres() as started:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        database = args.postgres_url or started
        if database is None:
            sys.exit("PostgreSQL is not installed (Debian: apt-get install postgresql).")
        if args.postgres_url:
            empty_tables(database)
        print(f"running 2 gateways, n={args.tasks} ...", file=sys.stderr, flush=True)
        result = run(
            args.tasks, args.task_seconds, database, Path(tmp), args.start_together, args.replicas
        )
    checks = verdicts(result)
    result["checks"] = [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    result["machine"] = machine
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"Machine: {machine}; 2 gateways on one PostgreSQL; {args.tasks:,} DashScope emulator "
        f"tasks (log-normal, median {args.task_seconds:g} s, sigma {SIGMA}), real clock, "
        f"{ACCOUNT_QPS:g} task queries per second.\n"
    )
    print("| check | ok | detail |\n|---|---|---|")
    for check, ok, detail in checks:
        print(f"| {check} | {'yes' if ok else '**NO**'} | {detail} |")
    c = result["provider_counts"]
    print(
        "\n| tasks | wall s | created in s | create p50 / p99 ms | provider requests / task "
        "| task queries / task | submits | status | listing pages | downloads "
        "| busiest second (budget) | throttled |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {result['created']:,} | {result['wall_s']:.1f} | {result['created_in_s']:.1f} | "
        f"{result['create_p50_ms']:.0f} / {result['create_p99_ms']:.0f} | "
        f"{result['provider_requests_per_task']:.2f} | {result['task_queries_per_task']:.2f} | "
        f"{c.get('submit', 0):,} | {c.get('status', 0):,} | {c.get('list', 0):,} | "
        f"{c.get('video', 0):,} | {result['busiest_second']} ({ACCOUNT_QPS:g}) | "
        f"{result['throttled']} |"
    )
    print(
        "\n| replica | created | stored here | of them its own | CPU s | CPU ms / task "
        "| peak RSS MB | lost leases | paused trackers |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for p in result["replicas"]:
        print(
            f"| {p['replica']} | {p['created']:,} | {p['stored_here']:,} | "
            f"{p['stored_here_of_its_own']:,} | {p['cpu_s']:.1f} | {p['cpu_ms_per_task']:.1f} | "
            f"{p['peak_rss_mb']:.0f} | {p['lost_leases']} | {p['paused_trackers']} |"
        )
    for row in result["store"]["failed_rows"]:
        print(
            f"failed: {row['id']} task {row['task_id']}: {row['error_code']}: "
            f"{row['error_message'][:200]}"
        )
    if result["create_errors"]:
        print("\ncreate errors:", *result["create_errors"], sep="\n  ")
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
