"""`google`: the Gemini API provider, the shared Veo base plus what only the Gemini API has,
the Interactions API's cancel (Gemini Omni) and signed project webhooks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from videoprovider.apiclient import describe, send_bounded
from videoprovider.errors import ProviderUnavailable, UnsupportedOperation, WebhookRejected
from videoprovider.hookspecs import hookimpl
from videoprovider.models import TaskState, TaskStatus, WebhookDelivery
from videoprovider.provider import Operation, ProviderContext

from . import interactions, webhooks, wire
from .provider import MAX_INLINE_REPLY, VeoProvider
from .settings import GoogleSettings

log = logging.getLogger("videoprovider.google")


class GoogleProvider(VeoProvider):
    """Veo and Gemini Omni video models on the Gemini API (generativelanguage.googleapis.com).

    Cancel is the Interactions API's (Gemini Omni) alone: a Veo operation has none, so the
    cancel hook refuses a Veo task with UnsupportedOperation, naming its model, before any
    request (the client and the CLI treat it as any other refused operation).
    """

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL, Operation.CANCEL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {}

    def __init__(self, settings: GoogleSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        secret = settings.webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret else None
        self.pushes_updates = secret is not None

    @hookimpl
    async def videoprovider_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        """A signed delivery of the project's webhook, as a notice naming its task: the
        body's shape is not documented where we could read it, so the status is fetched."""
        where: dict[str, Any] = {"provider": self.context.name, "operation": "webhook"}
        if self._webhook_secret is None:
            raise WebhookRejected(
                "Gemini API webhooks are not configured here, so this delivery cannot be verified.",
                http_status=404,
                hint="Set webhook_secret (GEMINI_WEBHOOK_SECRET) in [google].",
                **where,
            )
        now = self.context.clock.now()
        try:
            delivery_id = webhooks.verify(body, headers, self._webhook_secret, now=now.timestamp())
            task_id = webhooks.task_named(body)
        except webhooks.Refused as exc:
            log.warning("refused a Gemini API webhook delivery: %s", exc)
            raise WebhookRejected(
                f"Refused a Gemini API webhook delivery: {exc}.",
                http_status=exc.http_status,
                **where,
            ) from None
        log.info("webhook %s: %s changed; fetching its status", delivery_id, task_id)
        status = TaskStatus(
            provider=self.context.name, task_id=task_id, state=TaskState.COMPLETED, checked_at=now
        )
        return WebhookDelivery(id=delivery_id, status=status, notice=True)

    @hookimpl
    async def videoprovider_cancel(self, task_id: str) -> TaskStatus:
        name = self.context.name
        if not interactions.is_interaction(task_id):
            match = self.operation_names.fullmatch(task_id) if isinstance(task_id, str) else None
            model = match[1] if match else "a Veo model"
            raise UnsupportedOperation(
                f"{task_id} is an operation of {model}: {self.service} documents no cancel "
                "for Veo operations, so it runs to its end. Only Gemini Omni interactions "
                f"({interactions.PREFIX}<id>) can be cancelled; nothing was sent.",
                provider=name,
                operation="cancel",
                task_id=str(task_id),
                hint="Nothing was sent. Wait for the task, or leave it: it cannot be stopped.",
            )
        path = interactions.path(task_id, "cancel", name) + "/cancel"
        try:
            response = await send_bounded(self._http, "POST", path, max_bytes=MAX_INLINE_REPLY)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Calling {self.service} (cancel) failed: {describe(exc)}.",
                provider=name,
                operation="cancel",
                task_id=task_id,
            ) from exc
        if response.status_code == 404:
            return wire.unknown_status(task_id, self.context.clock.now(), name)
        if response.status_code != 200:
            raise wire.error_for(response, "cancel", task_id, name)
        status = self._parse_status(response, task_id)
        if status.state.is_terminal:
            self._submitted.pop(task_id, None)
        return status
