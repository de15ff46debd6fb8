"""A DashScope-protocol server on 127.0.0.1 for tests, demos and benchmarks.

    with run_in_thread(EmulatorConfig(task_seconds=2)) as emu:      # in this process
        os.environ["DASHSCOPE_BASE_URL"] = emu.base_url
        emu.service.inject(Fault("429", match="status", retry_after=3))

    with run_subprocess("--task-seconds", "2") as emu:               # in another process
        emu.stats()                                                   # over /_emulator/*

or from a shell: `python -m videoprovider_dashscope.emulator --port 0` (prints its base URL).
Pass a server-side `ssl.SSLContext` as `tls=` (shell: `--tls-cert`, `--tls-key`) to serve
HTTPS, as the real endpoint does; clients then trust its CA through `SSL_CERT_FILE` (httpx)
or `REQUESTS_CA_BUNDLE` (the official SDK), or `run_subprocess(..., ca_file=...)`.
It checks the key and the async header, validates bodies per model family, runs tasks
PENDING → RUNNING → SUCCEEDED on a (compressible, injectable) clock, serves an MP4 at the
signed-looking `video_url`, answers UNKNOWN after the retention, cancels PENDING tasks, lists
tasks, limits task queries per second with 429 Throttling.RateQuota, injects faults, and
records and counts every request (keys redacted). Admin endpoints: GET /_emulator/requests,
/_emulator/stats, /_emulator/tasks; POST /_emulator/faults (a JSON list), /_emulator/reset.

With `EmulatorConfig(events_url=...)` (shell: `--events-url URL`) it also POSTs DashScope's
task-finished CloudEvent to that URL when a task ends, as an EventBridge HTTP target would,
with `events_token` in `events_header`; `events_delay`, `events_twice` and `events_drop`
(`--events-delay`, `--events-twice`, `--events-drop`) make it late, doubled or lost.
`service.events.sent` lists the deliveries; /_emulator/stats counts them under "events".
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any
from urllib.request import Request, urlopen

from videoprovider.testing.emulator import EmulatorClock, base_url, in_thread, serve

from .service import DashScopeService, EmulatorConfig, Fault

__all__ = [
    "DashScopeService",
    "EmulatorConfig",
    "Fault",
    "RemoteEmulator",
    "RunningEmulator",
    "run_in_thread",
    "run_subprocess",
]


@dataclass
class RunningEmulator:
    """An emulator serving from a thread of this process."""

    base_url: str
    service: DashScopeService


@contextmanager
def run_in_thread(
    config: EmulatorConfig | None = None,
    clock: EmulatorClock | None = None,
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[RunningEmulator]:
    service = DashScopeService(config, clock)
    start = partial(serve, service.handle, "127.0.0.1", port, tls)
    with in_thread(start, name="dashscope-emulator") as server:
        service.base_url = base_url(server, "127.0.0.1", tls)
        yield RunningEmulator(service.base_url, service)


@dataclass
class RemoteEmulator:
    """An emulator in another process, controlled over its admin endpoints."""

    base_url: str
    process: subprocess.Popen[str]
    ca_file: str | None = None

    def _call(self, name: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = Request(
            f"{self.base_url}/_emulator/{name}", data=data, method="GET" if data is None else "POST"
        )
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        with urlopen(req, timeout=10, context=context) as reply:
            return json.loads(reply.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._call("stats"))

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("requests"))

    def done_times(self) -> dict[str, float]:
        return {tid: info["done"] for tid, info in self.task_times().items()}

    def task_times(self) -> dict[str, dict[str, float]]:
        """Each task's end (on the shared monotonic clock) and emulated duration."""
        return dict(self._call("tasks"))

    def inject(self, *faults: Fault) -> None:
        self._call("faults", [asdict(f) for f in faults])

    def reset(self) -> None:
        self._call("reset", {})


@contextmanager
def run_subprocess(*args: str, ca_file: str | None = None) -> Iterator[RemoteEmulator]:
    """Start `python -m videoprovider_dashscope.emulator --port 0 ARGS` and wait for its URL.

    With `--tls-cert`/`--tls-key` in ARGS, pass the CA that signed the certificate as
    `ca_file` so the admin calls trust it.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "videoprovider_dashscope.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith(("http://", "https://")):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield RemoteEmulator(line, process, ca_file)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
