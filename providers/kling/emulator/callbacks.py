"""The emulator's callbacks: the task object POSTed to a create's `callback_url` on each
change of state, unsigned, as Kling sends them [callback-protocol].

A background task on the emulator's loop looks at the (possibly virtual) clock each tick,
queues a delivery per state a task reached and sends it, a few times at most.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx

ATTEMPTS = 3
TICK = 0.01  # real seconds between looks at the emulator's clock


@dataclass
class Callback:
    task_id: str
    state: str
    url: str
    body: bytes
    attempts: int = 0
    answer: int | None = None


class Callbacks:
    """Queues and sends callbacks; `sent` lists every one, in order."""

    def __init__(self) -> None:
        self.sent: list[Callback] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = threading.Condition()

    def queue(self, task_id: str, state: str, url: str, task: dict[str, object]) -> None:
        with self._changed:
            self.sent.append(Callback(task_id, state, url, json.dumps(task).encode()))

    def start(self, due: Callable[[], None]) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(due))

    def settled(self, count: int, timeout: float = 10.0) -> list[Callback]:
        """Wait (real time, from a test's thread) until `count` callbacks were answered."""
        with self._changed:
            self._changed.wait_for(
                lambda: sum(c.answer is not None for c in self.sent) >= count, timeout
            )
            return list(self.sent)

    async def _run(self, due: Callable[[], None]) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                due()
                for callback in [c for c in self.sent if c.answer is None]:
                    if callback.attempts >= ATTEMPTS:
                        continue
                    callback.attempts += 1
                    try:
                        reply = await http.post(
                            callback.url,
                            content=callback.body,
                            headers={"Content-Type": "application/json"},
                        )
                    except httpx.HTTPError:
                        continue
                    with self._changed:
                        callback.answer = reply.status_code
                        self._changed.notify_all()
                await asyncio.sleep(TICK)
