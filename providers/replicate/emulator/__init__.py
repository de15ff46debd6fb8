"""A Replicate-protocol server on 127.0.0.1 for tests and demos.

    with run_in_thread(EmulatorConfig(prediction_seconds=30), clock=clock) as emu:
        os.environ["REPLICATE_BASE_URL"] = emu.base_url
        emu.service.inject(Fault("429", match="create"))

or from a shell: `python -m videoprovider_replicate.emulator --port 0` (prints its base URL).
It checks the bearer token, serves model schemas (`GET /v1/models/...`), creates predictions
by official model or by version, runs them starting → processing → succeeded on an injectable
clock with drawn durations and tqdm-style logs, lists them newest first a page at a time
(`GET /v1/predictions`, cursor links, `EmulatorConfig.page_size`), cancels, removes outputs
an hour after they finish (`data_removed`), serves the MP4 at the output URL, injects 429,
5xx and dropped connections, and POSTs signed webhook deliveries to a create's `webhook` URL
(`service.webhooks.deliveries`; key `EmulatorConfig.webhook_secret`, served at
`GET /v1/webhooks/default/secret`). It is served by `videoprovider.testing.emulator`, like
every provider emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from videoprovider.testing.emulator import EmulatorClock, base_url, in_thread, serve

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
    start = partial(serve, service.handle, "127.0.0.1", port)
    with in_thread(start, name="replicate-emulator") as server:
        service.base_url = base_url(server, "127.0.0.1", None)
        yield RunningEmulator(f"{service.base_url}/v1", service)
