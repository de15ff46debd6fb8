"""A Replicate-protocol server on 127.0.0.1 for tests and demos.

    with run_in_thread(EmulatorConfig(prediction_seconds=30), clock=clock) as emu:
        os.environ["REPLICATE_BASE_URL"] = emu.base_url
        emu.service.inject(Fault("429", match="create"))

or from a shell: `python -m videoprovider_replicate.emulator --port 0` (prints its base URL).
It checks the bearer token, serves model schemas (`GET /v1/models/...`), creates predictions
by official model or by version, runs them starting → processing → succeeded on an injectable
clock with drawn durations and tqdm-style logs, cancels, removes outputs an hour after they
finish (`data_removed`), serves the MP4 at the output URL and injects 429, 5xx and dropped
connections. It serves HTTP through the DashScope emulator's h11 server rather than a copy.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from videoprovider_dashscope.emulator.httpserver import base_url, serve
from videoprovider_dashscope.emulator.service import EmulatorClock

from .service import EmulatorConfig, Fault, ReplicateService

__all__ = ["EmulatorConfig", "Fault", "ReplicateService", "RunningEmulator", "run_in_thread"]


@dataclass
class RunningEmulator:
    """An emulator serving from a thread of this process; `base_url` ends in /v1."""

    base_url: str
    service: ReplicateService


@contextmanager
def run_in_thread(
    config: EmulatorConfig | None = None, clock: EmulatorClock | None = None, port: int = 0
) -> Iterator[RunningEmulator]:
    service = ReplicateService(config, clock)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = await serve(service.handle, "127.0.0.1", port)
        holder["server"] = server
        service.base_url = base_url(server, "127.0.0.1", None)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="replicate-emulator", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield RunningEmulator(f"{service.base_url}/v1", service)
    finally:

        async def stop() -> None:
            holder["server"].close()
            # Keep-alive connections hold tasks; end them so none outlives the loop.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
