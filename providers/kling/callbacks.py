"""Kling's callbacks read as notices: unsigned, so they only prompt a status request.

Kling signs no callback [callback-protocol]: anyone who knows the URL can post one. So a
delivery names a task and the state it claims, and nothing more is believed: the client asks
Kling for the task (one status request, in the budget, none for a task its journal does not
know) and only that answer changes anything. The core lets at most one such request per
task through per `notice_interval` (core/notices.py), so a flood of forged callbacks, each
with an id of its own, costs one request per task per interval.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from videoprovider.clock import Clock
from videoprovider.errors import WebhookRejected
from videoprovider.models import TaskStatus, WebhookDelivery

from . import wire

__all__ = ["CallbackReader"]

log = logging.getLogger("videoprovider.kling")


class CallbackReader:
    """Turns a callback's body into a notice `WebhookDelivery` (or WebhookRejected 400)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def read(self, body: bytes) -> WebhookDelivery:
        where: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "webhook"}
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(
                "A Kling callback must be JSON.", http_status=400, **where
            ) from None
        task = doc.get("data", doc) if isinstance(doc, dict) else None
        info = task.get("task_info") if isinstance(task, dict) else None
        external = info.get("external_task_id") if isinstance(info, dict) else None
        kind = wire.split_ref(external) if isinstance(external, str) else None
        if kind is None or not isinstance(task, dict):
            raise WebhookRejected(
                "A Kling callback without an external_task_id of this client names no task "
                "submitted here.",
                http_status=400,
                **where,
            )
        said = task.get("task_status")
        state = wire.STATES.get(said) if isinstance(said, str) else None
        service_id = task.get("task_id")
        if state is None or not isinstance(service_id, str) or not wire.is_external_id(service_id):
            raise WebhookRejected(
                "A Kling callback needs a task_id and a task_status its docs list.",
                http_status=400,
                **where,
            )
        # The claimed state only; the video URL comes from the query that confirms it.
        status = TaskStatus(
            provider=wire.PROVIDER,
            task_id=wire.task_ref(kind[0], service_id),
            state=state,
            checked_at=self._clock.now(),
        )
        delivery_id = f"{status.task_id}:{said}:{task.get('updated_at')}"
        log.info("callback: task %s says %s (a notice; to be confirmed)", status.task_id, said)
        return WebhookDelivery(id=delivery_id, status=status, notice=True)
