"""A fal-queue server on 127.0.0.1 for tests and demos.

    with run_in_thread(EmulatorConfig(queue_seconds=5), clock=clock) as emu:
        os.environ["FAL_BASE_URL"] = emu.base_url
        emu.service.inject(Fault("429", match="status"))

or from a shell: `python -m videoprovider_fal.emulator --port 0` (prints its base URL). It
checks `Authorization: Key ...`, serves each catalogued endpoint's OpenAPI schema
(`/api/openapi/queue/openapi.json?endpoint_id=...`, no key), queues requests with positions,
runs them with logs, streams their status as server-sent events (`.../status/stream`),
answers results (a video URL on `/files/`, or the model's error),
cancels for real, injects 429, 5xx and dropped connections, can point reply URLs at another
host (`reply_base_url`), publishes its ED25519 keys at `/.well-known/jwks.json` and POSTs
signed deliveries to a submit's `fal_webhook` (`service.webhooks`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from videoprovider.testing.emulator import EmulatorClock, base_url, in_thread, serve

from .service import JWKS_PATH, SCHEMA_PATH, EmulatorConfig, FalService, Fault

__all__ = ["EmulatorConfig", "FalService", "Fault", "RunningEmulator", "run_in_thread"]


@dataclass
class RunningEmulator:
    """An emulator serving from a thread of this process."""

    base_url: str
    service: FalService

    @property
    def schema_url(self) -> str:
        return self.base_url + SCHEMA_PATH

    @property
    def jwks_url(self) -> str:
        return self.base_url + JWKS_PATH


@contextmanager
def run_in_thread(
    config: EmulatorConfig | None = None, clock: EmulatorClock | None = None, port: int = 0
) -> Iterator[RunningEmulator]:
    service = FalService(config, clock)
    start = partial(serve, service.handle, "127.0.0.1", port)
    with in_thread(start, name="fal-emulator") as server:
        service.base_url = base_url(server, "127.0.0.1", None)
        yield RunningEmulator(service.base_url, service)
