"""What the gateway costs over the library: the same tasks through `videoprovider serve` and
through `AsyncVideoClient`, in one run.

    pip install ".[server]"
    python benchmarks/gateway_overhead.py [-n 1000] [--callers 50] [--task-seconds 2]
        [--quick] [--out benchmarks/results/gateway_overhead.json]

Gateway side: a `videoprovider serve` process on 127.0.0.1 (one process, its own SQLite
store and journal, the fake provider behind it), and one caller process running
`--callers` concurrent callers over real HTTP (httpx): each creates a video with
`POST /v1/videos`, looks at it with `GET /v1/videos/{id}` once a second until it is
`completed` or `failed`, then takes the next, until `-n` are done. Library side: one
process, one `AsyncVideoClient("fake", journal=True)` on the same config, `--callers`
coroutines each doing `submit`, `wait` and `download` (what the gateway's tracker does for
each video), until `-n` are done. Every fake task lasts `--task-seconds` of the real clock.

Each side runs in fresh processes and a fresh folder. CPU is user + system time read from
/proc (the server) or getrusage (the callers, the library) over the load only, from the
first request to the last answer; imports and start-up are left out on both sides. Peak RSS
is the process's high-water mark (VmHWM / ru_maxrss), start-up included. Prints a Markdown
table and writes JSON. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import count
from pathlib import Path
from typing import Any

CALLER_KEY = "sk-test-benchmark"
TICKS = os.sysconf("SC_CLK_TCK")


# -- the two sides' load, each run in its own process -------------------------------------


async def run_callers(url: str, n: int, callers: int) -> dict[str, Any]:
    """`callers` concurrent callers of the gateway, each creating a video and looking at it
    once a second until it ends, then the next."""
    import httpx

    gets: list[float] = []
    creates: list[float] = []
    to_done: list[float] = []
    statuses: dict[str, int] = {}
    numbers = count()
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
        limits=httpx.Limits(max_connections=callers),
        timeout=httpx.Timeout(60.0),
    ) as http:

        async def caller() -> None:
            while (i := next(numbers)) < n:
                start = time.monotonic()
                made = await http.post(
                    "/v1/videos", json={"model": "fake/fake-1", "prompt": f"task {i}"}
                )
                creates.append(time.monotonic() - start)
                made.raise_for_status()
                video_id = made.json()["id"]
                while True:
                    await asyncio.sleep(1.0)
                    asked = time.monotonic()
                    answer = await http.get(f"/v1/videos/{video_id}")
                    gets.append(time.monotonic() - asked)
                    answer.raise_for_status()
                    status = answer.json()["status"]
                    if status in ("completed", "failed"):
                        break
                to_done.append(time.monotonic() - start)
                statuses[status] = statuses.get(status, 0) + 1

        before = _self_cpu()
        started = time.monotonic()
        await asyncio.gather(*(caller() for _ in range(callers)))
        wall = time.monotonic() - started
        cpu = _self_cpu() - before
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "gets": gets,
        "creates": creates,
        "to_done": to_done,
        "statuses": statuses,
    }


async def run_library(config: str, folder: str, n: int, callers: int) -> dict[str, Any]:
    """`callers` coroutines on one AsyncVideoClient, each submitting a task, waiting for it
    and saving its video, then the next."""
    before = _self_cpu()
    started = time.monotonic()
    from videoprovider import AsyncVideoClient

    to_done: list[float] = []
    statuses: dict[str, int] = {}
    numbers = count()
    async with AsyncVideoClient("fake", config=config, journal=True) as client:

        async def caller() -> None:
            while (i := next(numbers)) < n:
                start = time.monotonic()
                task = await client.submit(f"task {i}")
                final = await client.wait(task, timeout=None)
                await client.download(task, Path(folder) / f"{task.task_id}.mp4", overwrite=True)
                to_done.append(time.monotonic() - start)
                state = final.state.value.lower()  # as the gateway's statuses are spelt
                statuses[state] = statuses.get(state, 0) + 1

        await asyncio.gather(*(caller() for _ in range(callers)))
    return {
        "wall_s": time.monotonic() - started,
        "cpu_s": _self_cpu() - before,
        "to_done": to_done,
        "statuses": statuses,
        "files": len(os.listdir(folder)),
    }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(argv: list[str]) -> None:
    if argv[0] == "callers":
        out = asyncio.run(run_callers(argv[1], int(argv[2]), int(argv[3])))
    else:
        out = asyncio.run(run_library(argv[1], argv[2], int(argv[3]), int(argv[4])))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# -- orchestration ------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid`, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def proc_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, task_seconds: float, server: bool) -> Path:
    path = folder / "videoprovider.toml"
    text = (
        f'journal_url = "{folder / "journal.sqlite3"}"\n'
        f"[fake]\nseconds = {task_seconds}\n"
        f'cancel_file = "{folder / "cancels.sqlite3"}"\n'
    )
    if server:
        text += (
            f'[server]\ndatabase = "{folder / "gateway.sqlite3"}"\n'
            f'storage = "{folder / "videos"}"\n'
        )
    path.write_text(text)
    path.chmod(0o600)
    return path


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the gateway did not become ready:\n{log.read_text()[-2000:]}")


def child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", *args],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def gateway_side(n: int, callers: int, task_seconds: float, folder: Path) -> dict[str, Any]:
    config = write_config(folder, task_seconds, server=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "gateway.log"
    env = {**os.environ, "VIDEOPROVIDER_CONFIG": str(config)}
    command = [sys.executable, "-m", "videoprovider.cli", "serve", "--port", str(port)]
    with log.open("wb") as errors:
        server = subprocess.Popen(command, stdout=errors, stderr=errors, env=env)
    try:
        wait_ready(url, server, log)
        before = proc_cpu(server.pid)
        load = child("callers", url, str(n), str(callers))
        server_cpu = proc_cpu(server.pid) - before
        server_rss = proc_peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    files = len(list((folder / "videos").glob("*.mp4")))
    gets = load["gets"]
    return {
        "side": "gateway",
        "n": n,
        "callers": callers,
        "task_seconds": task_seconds,
        "completed": load["statuses"].get("completed", 0),
        "statuses": load["statuses"],
        "files": files,
        "wall_s": load["wall_s"],
        "cpu_s": server_cpu,
        "cpu_ms_per_task": 1000 * server_cpu / n,
        "callers_cpu_s": load["cpu_s"],
        "callers_cpu_ms_per_task": 1000 * load["cpu_s"] / n,
        "get_requests": len(gets),
        "gets_per_task": len(gets) / n,
        "get_p50_ms": 1000 * _quantile(gets, 0.50),
        "get_p99_ms": 1000 * _quantile(gets, 0.99),
        "create_p50_ms": 1000 * _quantile(load["creates"], 0.50),
        "create_p99_ms": 1000 * _quantile(load["creates"], 0.99),
        "to_done_p50_s": _quantile(load["to_done"], 0.50),
        "to_done_p99_s": _quantile(load["to_done"], 0.99),
        "peak_rss_mb": server_rss,
        "callers_peak_rss_mb": load["rss_mb"],
    }


def library_side(n: int, callers: int, task_seconds: float, folder: Path) -> dict[str, Any]:
    config = write_config(folder, task_seconds, server=False)
    videos = folder / "videos"
    videos.mkdir()
    load = child("library", str(config), str(videos), str(n), str(callers))
    return {
        "side": "library",
        "n": n,
        "callers": callers,
        "task_seconds": task_seconds,
        "completed": load["statuses"].get("completed", 0),
        "statuses": load["statuses"],
        "files": load["files"],
        "wall_s": load["wall_s"],
        "cpu_s": load["cpu_s"],
        "cpu_ms_per_task": 1000 * load["cpu_s"] / n,
        "callers_cpu_s": None,
        "callers_cpu_ms_per_task": None,
        "get_requests": None,
        "gets_per_task": None,
        "get_p50_ms": None,
        "get_p99_ms": None,
        "create_p50_ms": None,
        "create_p99_ms": None,
        "to_done_p50_s": _quantile(load["to_done"], 0.50),
        "to_done_p99_s": _quantile(load["to_done"], 0.99),
        "peak_rss_mb": load["rss_mb"],
        "callers_peak_rss_mb": None,
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


COLUMNS = [
    ("side", "{}"),
    ("n", "{:,}"),
    ("completed", "{:,}"),
    ("files", "{:,}"),
    ("wall_s", "{:.1f}"),
    ("cpu_s", "{:.2f}"),
    ("cpu_ms_per_task", "{:.2f}"),
    ("callers_cpu_ms_per_task", "{:.2f}"),
    ("gets_per_task", "{:.1f}"),
    ("get_p50_ms", "{:.1f}"),
    ("get_p99_ms", "{:.1f}"),
    ("to_done_p50_s", "{:.2f}"),
    ("to_done_p99_s", "{:.2f}"),
    ("peak_rss_mb", "{:.0f}"),
    ("callers_peak_rss_mb", "{:.0f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(c for c, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [("-" if row[c] is None else fmt.format(row[c])) for c, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(gateway: dict[str, Any], library: dict[str, Any]) -> dict[str, float]:
    def over(name: str) -> float:
        return float(gateway[name]) / max(1e-9, float(library[name]))

    return {
        "wall": over("wall_s"),
        "cpu_per_task": over("cpu_ms_per_task"),
        "cpu_per_task_with_callers": (
            gateway["cpu_ms_per_task"] + gateway["callers_cpu_ms_per_task"]
        )
        / max(1e-9, library["cpu_ms_per_task"]),
        "peak_rss": over("peak_rss_mb"),
        "to_done_p50": over("to_done_p50_s"),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--tasks", type=int, default=1000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument(
        "--task-seconds", type=float, default=2.0, help="how long each fake task lasts"
    )
    parser.add_argument("--quick", action="store_true", help="100 tasks, 10 callers")
    parser.add_argument("--out", default="benchmarks/results/gateway_overhead.json")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.callers = 100, 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side, run in (("gateway", gateway_side), ("library", library_side)):
            folder = Path(tmp) / side
            folder.mkdir()
            print(f"running {side} n={args.tasks} ...", file=sys.stderr, flush=True)
            rows.append(run(args.tasks, args.callers, args.task_seconds, folder))
    ratio = ratios(rows[0], rows[1])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = {"machine": machine, "rows": rows, "ratio_gateway_over_library": ratio}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        f"Machine: {machine}; {args.tasks:,} fake tasks of {args.task_seconds:g} s, "
        f"{args.callers} concurrent callers.\n"
    )
    print(table(rows))
    print(
        f"\nGateway / library: wall {ratio['wall']:.2f}x, "
        f"CPU per task {ratio['cpu_per_task']:.2f}x "
        f"(server only; {ratio['cpu_per_task_with_callers']:.2f}x with the callers' CPU), "
        f"peak RSS {ratio['peak_rss']:.2f}x, time to done (median) {ratio['to_done_p50']:.2f}x."
    )


if __name__ == "__main__":
    main()
