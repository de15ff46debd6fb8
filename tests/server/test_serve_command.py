"""`videoprovider serve` itself, as a user starts it: a real process on the real clock."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import write_config

pytest.importorskip("fastapi")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_videoprovider_serve_serves_the_fake_provider(tmp_path: Path, workers: str) -> None:
    config = write_config(tmp_path)
    script = Path(sys.executable).with_name("videoprovider")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "videoprovider.cli"]
    process = subprocess.Popen(
        [*command, "serve", "--port", "0", "--workers", workers, "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VIDEOPROVIDER_CONFIG": ""},
    )
    try:
        assert process.stderr is not None
        url, started = None, 0
        for _ in range(200):  # uvicorn's start-up lines, bounded by count
            line = process.stderr.readline()
            if not line:
                break
            found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else url
            started += "Application startup complete" in line
            if url and started == int(workers):  # every worker is serving
                break
        assert url, "the gateway did not say where it listens"
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        made = httpx.post(f"{url}/v1/videos", json={"prompt": "A cat", "model": "fake/fake-1"})
        assert made.status_code == 200 and made.json()["status"] == "queued"
        for _ in range(4):  # new connections, whichever worker takes them: one store
            seen = httpx.get(f"{url}/v1/videos/{made.json()['id']}")
            assert seen.status_code == 200
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "videoprovider gateway"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
