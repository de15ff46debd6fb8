"""How often a notice may make the client ask the service about a task.

A notice (`WebhookDelivery.notice`) is believed only through the status request it
prompts, so a forged one can never end a wait; but each new delivery id would cost a
request. Ids of unsigned deliveries (Kling's callbacks) can be made up at will, so a flood
of them could spend the account's budget. `NoticeGate` lets one notice-prompted request
per task through per interval (the provider's `notice_interval`, default 30 s); a notice
inside it changes nothing, like a replay. A genuine notice caught there is not lost: the
safety-net polls still look at every task.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["NoticeGate"]


class NoticeGate:
    """The monotonic time of the last notice-prompted request per (provider, task)."""

    def __init__(self, keep: int = 100_000) -> None:
        self._keep = keep
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()

    def admit(self, provider: str, task_id: str, now: float, interval: float) -> bool:
        """Whether a notice for the task may prompt a request at `now`; if so, it is counted."""
        key = (provider, task_id)
        last = self._last.get(key)
        if last is not None and now - last < interval:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        if len(self._last) > self._keep:
            self._last.popitem(last=False)
        return True

    def release(self, provider: str, task_id: str) -> None:
        """Take back a request that failed, so the sender's retry of the notice is let in."""
        self._last.pop((provider, task_id), None)
