"""A Kling-protocol server on 127.0.0.1 for tests and demos.

    with run_in_thread(EmulatorConfig(), clock=clock) as emu:
        emu.service.inject(Fault("drop_after", match="create"))

or from a shell: `python -m videoprovider_kling.emulator --port 0` (prints its base URL).
It verifies each request's JWT (signature, issuer, nbf, exp: codes 1001-1004) or API key
(`TEST_API_KEY`), creates
text2video, image2video and multi-image2video tasks and runs each kind on its own time on an
injectable clock, answers queries by task id or external_task_id, refuses a repeated
external_task_id, injects any error code and dropped replies, POSTs unsigned callbacks to a
create's callback_url and serves the MP4 of a finished task. It is served by
`videoprovider.testing.emulator`, like every provider emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from videoprovider.testing.emulator import EmulatorClock, base_url, in_thread, serve

from .service import (
    TEST_ACCESS_KEY,
    TEST_API_KEY,
    TEST_SECRET_KEY,
    EmulatorConfig,
    Fault,
    KlingService,
)

__all__ = [
    "TEST_ACCESS_KEY",
    "TEST_API_KEY",
    "TEST_SECRET_KEY",
    "EmulatorConfig",
    "Fault",
    "KlingService",
    "RunningEmulator",
    "run_in_thread",
]


@dataclass
class RunningEmulator:
    """An emulator serving from a thread of this process; `base_url` is the API root."""

    base_url: str
    service: KlingService


@contextmanager
def run_in_thread(
    config: EmulatorConfig | None = None, clock: EmulatorClock | None = None, port: int = 0
) -> Iterator[RunningEmulator]:
    service = KlingService(config, clock)
    start = partial(serve, service.handle, "127.0.0.1", port)
    with in_thread(start, name="kling-emulator") as server:
        service.base_url = base_url(server, "127.0.0.1", None)
        yield RunningEmulator(service.base_url, service)
