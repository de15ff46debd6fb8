"""Tracking many DashScope tasks at once: videoprovider vs the official SDK vs a plain loop.

    pip install ".[benchmark]"     # adds the official dashscope SDK
    python benchmarks/track_many.py [--scale 60] [--out benchmarks/results/track_many.json]

Each scenario runs in a fresh process against a fresh emulator process on 127.0.0.1, over
HTTPS as the real endpoint is (a throwaway CA from trustme, trusted by every client through
SSL_CERT_FILE and REQUESTS_CA_BUNDLE; `--plain-http` turns TLS off). Task
durations are log-normal (median 90 s, sigma 0.5) on a clock compressed `--scale` times,
and every client runs on that clock: videoprovider's intervals are divided by the scale, the
SDK's sleeps are compressed (`ScaledTime`), the plain loop polls every 1/scale s. The
emulator enforces DashScope's 20 task queries per second per account on that clock (20 x
scale per real second), and videoprovider is given the same budget. Prints a Markdown table
and writes JSON. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

KEY = "sk-test-benchmark"
MEDIAN, SIGMA, ACCOUNT_QPS = 90.0, 0.5, 20.0


# -- the three clients, each run in its own process -----------------------------------------


async def run_videoprovider(
    base: str,
    n: int,
    scale: float,
    aiohttp: bool = False,
    listing: bool = True,
    follow: bool = False,
    events_port: int | None = None,
) -> dict[str, float]:
    from videoprovider import AsyncVideoClient

    transport = None
    if aiohttp:  # the alternative the maintained-transport issue named, measured side by side
        import httpx
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=httpx.Limits(max_connections=8))
    detected: dict[str, float] = {}
    settings: dict[str, Any] = {}
    if events_port is not None:  # the emulator POSTs completion events to this port
        from videoprovider_dashscope.emulator.events import DEFAULT_TOKEN

        settings["events_token"] = DEFAULT_TOKEN
    async with (
        AsyncVideoClient(
            "dashscope",
            transport=transport,
            config=False,
            environ={},
            api_key=KEY,
            base_url=base,
            model="wan2.6-t2v",
            poll_interval=2.0 / scale,
            poll_max_interval=15.0 / scale,
            poll_typical_seconds=120.0 / scale,
            poll_budget=ACCOUNT_QPS * scale,
            poll_listing=listing,
            **settings,
        ) as client,
        serve_events(client, events_port),
    ):
        gate = asyncio.Semaphore(64)

        async def submit(i: int) -> Any:
            async with gate:
                return await client.submit(f"task {i}")

        if follow:  # wait on each task from its submit on, as the SDK's threads do

            async def submit_and_wait(i: int) -> None:
                task = await submit(i)
                await client.wait(task, timeout=None)
                detected[task.task_id] = time.monotonic()

            await asyncio.gather(*(submit_and_wait(i) for i in range(n)))
            return detected
        tasks = await asyncio.gather(*(submit(i) for i in range(n)))
        async for outcome in client.as_completed(tasks, timeout=None):
            if outcome.ok:
                detected[outcome.task.task_id] = time.monotonic()
    return detected


@contextlib.asynccontextmanager
async def serve_events(client: Any, port: int | None) -> AsyncIterator[None]:
    """Receive the emulator's completion events with `asgi_app` on uvicorn, in this loop."""
    if port is None:
        yield
        return
    import uvicorn

    from videoprovider.webhooks import asgi_app

    server = uvicorn.Server(
        uvicorn.Config(
            asgi_app(client), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await serving


class ScaledTime:
    """The `time` module with sleeps compressed `scale` times, so the SDK's poll intervals
    (1, 1, 2, 2, 2, 4, ... 5 s) run on the emulator's compressed clock like everything else."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def run_sdk(base: str, n: int, scale: float) -> dict[str, float]:
    import dashscope
    import dashscope.client.base_api as base_api
    from dashscope import VideoSynthesis

    base_api.time = ScaledTime(scale)  # type: ignore[attr-defined]
    dashscope.base_http_api_url = f"{base}/api/v1"
    dashscope.api_key = KEY
    detected: dict[str, float] = {}
    lock = threading.Lock()

    def one(i: int) -> None:  # the SDK's way: one thread per task, async_call + wait
        rsp = VideoSynthesis.async_call(model="wan2.6-t2v", prompt=f"task {i}")
        if rsp.status_code != 200:
            return
        done = VideoSynthesis.wait(rsp)
        while done.status_code == 429:  # wait() returns a throttled poll; a host waits again
            time.sleep(1.0 / scale)
            done = VideoSynthesis.wait(rsp)
        if done.status_code == 200 and done.output.task_status == "SUCCEEDED":
            with lock:
                detected[done.output.task_id] = time.monotonic()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return detected


async def run_plain(base: str, n: int, scale: float) -> dict[str, float]:
    import httpx

    detected: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1",
        headers=headers,
        limits=httpx.Limits(max_connections=64),
        timeout=httpx.Timeout(60.0, pool=None),  # 1,000 waiting on 64 connections is normal
    ) as http:

        async def one(i: int) -> None:  # submit, then poll every (emulated) second
            r = await http.post(
                "/services/aigc/video-generation/video-synthesis",
                json={"model": "wan2.6-t2v", "input": {"prompt": f"task {i}"}},
                headers={"X-DashScope-Async": "enable"},
            )
            task_id = r.json()["output"]["task_id"]
            while True:
                await asyncio.sleep(1.0 / scale)
                r = await http.get(f"/tasks/{task_id}")
                if r.status_code == 200 and r.json()["output"]["task_status"] == "SUCCEEDED":
                    detected[task_id] = time.monotonic()
                    return

        await asyncio.gather(*(one(i) for i in range(n)))
    return detected


def worker(kind: str, base: str, n: int, scale: float) -> None:
    start = time.monotonic()
    if kind.startswith("videoprovider"):
        run = run_videoprovider(
            base,
            n,
            scale,
            aiohttp=kind.endswith("aiohttp"),
            listing="polling" not in kind,
            follow=kind.startswith("videoprovider/follow"),
            events_port=int(os.environ["EVENTS_PORT"]) if kind.endswith("events") else None,
        )
        detected = asyncio.run(run)
    elif kind == "sdk":
        detected = run_sdk(base, n, scale)
    else:
        detected = asyncio.run(run_plain(base, n, scale))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "wall": time.monotonic() - start,
                "cpu": usage.ru_utime + usage.ru_stime,
                "rss_mb": usage.ru_maxrss / 1024,
                "detected": detected,
            }
        )
    )


# -- orchestration ------------------------------------------------------------------------


def minimum_polls(durations: list[float], lag_ratio: float = 0.1) -> float:
    """Fewest polls per task any policy needs to see every task within `lag_ratio` of its
    duration without knowing it: first poll at the shortest duration, then ages growing by
    at most (1 + lag_ratio)."""
    d0 = min(durations)
    return statistics.fmean(
        1 + max(0, math.ceil(math.log(d / d0) / math.log(1 + lag_ratio))) for d in durations
    )


def make_tls(folder: Path) -> tuple[list[str], dict[str, str]]:
    """A throwaway CA and a 127.0.0.1 certificate: the emulator's arguments, the clients' env."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    args = ["--tls-cert", str(folder / "cert.pem"), "--tls-key", str(folder / "key.pem")]
    ca_file = str(folder / "ca.pem")
    return args, {"SSL_CERT_FILE": ca_file, "REQUESTS_CA_BUNDLE": ca_file}


def fastest_collection(done: list[float], qps: float) -> list[float]:
    """The lags (real seconds) of a client that knows the instant each task ends and fetches
    it then, one status request per task, never over `qps`: the floor for any client that
    needs a task's own status to collect it (its video URL is only there)."""
    lags, free = [], -math.inf
    for end in sorted(done):
        fetch = max(end, free)
        lags.append(fetch - end)
        free = fetch + 1.0 / qps
    return lags


def scenario(
    kind: str,
    n: int,
    scale: float,
    tls: tuple[list[str], dict[str, str]] | None,
    median: float | None = None,
) -> dict[str, Any]:
    from videoprovider_dashscope.emulator import run_subprocess

    qps = ACCOUNT_QPS * scale
    median = MEDIAN if median is None else median
    args = [
        "--api-key",
        KEY,
        "--task-seconds",
        str(median),
        "--sigma",
        str(SIGMA),
        "--time-scale",
        str(scale),
        "--qps-limit",
        str(qps),
        "--no-record",
        "--seed",
        "7",
    ]
    env = dict(os.environ)
    if kind.endswith("events"):  # the worker serves the events; the emulator sends them
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        args += ["--events-url", f"http://127.0.0.1:{port}/events"]
        env["EVENTS_PORT"] = str(port)
    ca_file = None
    if tls is not None:
        args += tls[0]
        env.update(tls[1])
        ca_file = tls[1]["SSL_CERT_FILE"]
    with run_subprocess(*args, ca_file=ca_file) as emu:
        result = subprocess.run(
            [sys.executable, __file__, "--worker", kind, emu.base_url, str(n), str(scale)],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{kind} n={n} failed: {result.stderr[-2000:]}")
        run = json.loads(result.stdout.strip().splitlines()[-1])
        stats = emu.stats()
        times = emu.task_times()
    detected: dict[str, float] = run["detected"]
    # The emulator reports each task's emulated duration and its end on the monotonic
    # clock, which is system-wide on Linux, so lags compare across the two processes.
    lags, fractions = [], []
    for tid, info in times.items():
        if tid in detected:
            lag = max(0.0, detected[tid] - info["done"]) * scale  # in emulated seconds
            lags.append(lag)
            fractions.append(lag / info["duration"])
    all_durations = {tid: info["duration"] for tid, info in times.items()}
    status_requests = stats["counts"].get("status", 0)
    list_requests = stats["counts"].get("list", 0)
    floor = [lag * scale for lag in fastest_collection([t["done"] for t in times.values()], qps)]
    completed = len(detected)
    return {
        "client": kind,
        "n": n,
        "median_task_s": median,
        "completed": completed,
        "submitted": len(times),
        "wall_s": run["wall"],
        "cpu_s": run["cpu"],
        "peak_rss_mb": run["rss_mb"],
        "status_requests": status_requests,
        "cpu_ms_per_request": 1000 * run["cpu"] / max(1, status_requests),
        "cpu_ms_per_task": 1000 * run["cpu"] / max(1, completed),
        "cpu_pct_of_core": 100 * run["cpu"] / max(1e-9, run["wall"]),
        "requests_per_task": (status_requests + list_requests) / max(1, n),
        "status_per_task": status_requests / max(1, n),
        "pages_per_task": list_requests / max(1, n),
        "floor_lag_median_s": statistics.median(floor),
        "floor_lag_p95_s": _p95(floor),
        "min_requests_per_task": minimum_polls(list(all_durations.values())),
        "tasks_per_cpu_s": completed / max(1e-9, run["cpu"]),
        "lag_median_s": statistics.median(lags) if lags else None,
        "lag_p95_s": _p95(lags) if lags else None,
        "lag_median_frac": statistics.median(fractions) if fractions else None,
        "lag_p95_frac": _p95(fractions) if fractions else None,
        "throttled": stats["throttled"],
        "peak_rps": stats["peak_rps"],
        "peak_status_rps": stats["peak_status_per_second"],
        "budget_rps": qps,
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def cold_start(repeat: int = 7) -> dict[str, float]:
    def timed(cmd: list[str]) -> float:
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    cli = [sys.executable, "-m", "videoprovider.cli", "--help"]
    return {
        "import videoprovider": timed([sys.executable, "-c", "import videoprovider"]),
        "videoprovider --help": timed(cli),
        "import dashscope": timed([sys.executable, "-c", "import dashscope"]),
    }


def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]] | None = None) -> str:
    cols = cols or [
        ("client", "{}"),
        ("n", "{}"),
        ("completed", "{}"),
        ("wall_s", "{:.1f}"),
        ("cpu_s", "{:.2f}"),
        ("cpu_ms_per_task", "{:.2f}"),
        ("cpu_pct_of_core", "{:.1f}"),
        ("cpu_ms_per_request", "{:.2f}"),
        ("requests_per_task", "{:.1f}"),
        ("min_requests_per_task", "{:.1f}"),
        ("tasks_per_cpu_s", "{:.0f}"),
        ("lag_median_s", "{:.1f}"),
        ("lag_p95_s", "{:.1f}"),
        ("lag_median_frac", "{:.2f}"),
        ("lag_p95_frac", "{:.2f}"),
        ("peak_rss_mb", "{:.0f}"),
        ("peak_rps", "{}"),
        ("peak_status_rps", "{}"),
        ("budget_rps", "{:.0f}"),
        ("throttled", "{}"),
    ]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [("-" if row[c] is None else fmt.format(row[c])) for c, fmt in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BATCH_COLUMNS = [
    ("client", "{}"),
    ("n", "{}"),
    ("median_task_s", "{:g}"),
    ("completed", "{}"),
    ("status_per_task", "{:.2f}"),
    ("pages_per_task", "{:.2f}"),
    ("requests_per_task", "{:.2f}"),
    ("lag_median_s", "{:.1f}"),
    ("lag_p95_s", "{:.1f}"),
    ("lag_p95_frac", "{:.2f}"),
    ("floor_lag_median_s", "{:.1f}"),
    ("floor_lag_p95_s", "{:.1f}"),
    ("peak_status_rps", "{}"),
    ("budget_rps", "{:.0f}"),
    ("throttled", "{}"),
    ("cpu_pct_of_core", "{:.1f}"),
]


def batch(scale: float, tls: tuple[list[str], dict[str, str]] | None) -> list[dict[str, Any]]:
    """Issue 15's targets: a cold start (N=100, median 5 s) and N=1,000 (median 20 s) at the
    service's own pace, and N=10,000 (median 90 s) compressed `scale` times; each with the
    task listing and without it (polling only), in the same run."""
    rows = []
    # Each task is waited on from its submit on (`/follow`), so the first ends are seen
    # while later tasks are still being submitted, as in a host that submits as work comes.
    both = ("videoprovider/follow", "videoprovider/follow-polling")
    events = "videoprovider/follow-events"
    for kinds, n, median, at in (
        ((*both, "sdk"), 100, 5.0, 1.0),
        ((*both, events), 1000, 20.0, 1.0),
        ((*both, events), 10000, 90.0, scale),
    ):
        for kind in kinds:
            if kind == "sdk" and not importlib.util.find_spec("dashscope"):
                continue
            print(f"running {kind} n={n} median={median:g} x{at:g} ...", file=sys.stderr)
            row = scenario(kind, n, at, tls, median=median)
            row["scale"] = at
            rows.append(row)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=60.0)
    parser.add_argument("--out", default="benchmarks/results/track_many.json")
    parser.add_argument("--quick", action="store_true", help="N=100 only")
    parser.add_argument("--plain-http", action="store_true", help="no TLS (not like the service)")
    parser.add_argument(
        "--real-time",
        action="store_true",
        help="no compression: 400 tasks of median 20 s at the real 20 queries/s, to read what "
        "a client costs at the service's own pace",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="batch status (the task listing) against polling only: cold start, N=1,000 "
        "and N=10,000 (compressed --scale times, default 10 here)",
    )
    args = parser.parse_args()
    if args.batch:
        scale = 10.0 if args.scale == 60.0 else args.scale
        with tempfile.TemporaryDirectory() as folder:
            rows = batch(scale, None if args.plain_http else make_tls(Path(folder)))
        out = Path(args.out).with_name("batch_status.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"rows": rows}, indent=2))
        print(table(rows, BATCH_COLUMNS))
        return
    global MEDIAN
    plan = [("videoprovider", 100), ("sdk", 100), ("plain", 100)]
    if args.real_time:
        args.scale, MEDIAN = 1.0, 20.0
        plan = [("videoprovider", 400), ("videoprovider+aiohttp", 400), ("sdk", 400)]
    elif not args.quick:
        plan += [("videoprovider", 1000), ("sdk", 1000), ("plain", 1000), ("videoprovider", 10000)]
        if importlib.util.find_spec("httpx_aiohttp"):
            plan.insert(4, ("videoprovider+aiohttp", 1000))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tls = None if args.plain_http else make_tls(Path(folder))
        for kind, n in plan:
            print(f"running {kind} n={n} ...", file=sys.stderr, flush=True)
            rows.append(scenario(kind, n, args.scale, tls))
    starts = cold_start()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = {
        "machine": machine,
        "scale": args.scale,
        "tls": not args.plain_http,
        "rows": rows,
        "cold_start_s": starts,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        f"Machine: {machine}; time compressed {args.scale:g}x; task durations log-normal, "
        f"median {MEDIAN:g} s, sigma {SIGMA}; {'HTTP' if args.plain_http else 'HTTPS'}.\n"
    )
    print(table(rows))
    print("\n| cold start (median of 7) | seconds |\n|---|---|")
    for name, seconds in starts.items():
        print(f"| `{name}` | {seconds:.3f} |")


if __name__ == "__main__":
    main()
