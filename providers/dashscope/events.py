"""DashScope's task-finished events, as EventBridge pushes them to an HTTP target.

Model Studio publishes `dashscope:System:AsyncTaskFinish` (source `acs.dashscope`) on the
account's default bus for every task that ends; a rule can forward it to an HTTP URL as a
CloudEvents 1.0 structured JSON body [protocol notes §14]. The event carries no video URL
(`contain_result: false`), so it is a *notice*: the client fetches the task's status once.

A delivery must carry the token the HTTP target was configured with (in a header); with
`events_account_id` its event must be that account's, and with `events_url` it must carry
EventBridge's signature (signatures.py). Because a notice only makes the client look the
task up at DashScope, a forged or replayed one can cost a status request, never a false
ending (docs/providers/dashscope.md, "What a delivery proves, and what it does not").
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from videoprovider.apiclient import parse_json
from videoprovider.errors import MALFORMED, WebhookRejected
from videoprovider.models import TaskStatus, WebhookDelivery

from . import wire
from .settings import DashScopeSettings

__all__ = ["EVENT_SOURCE", "EVENT_TYPE", "check_token", "read_event"]

EVENT_SOURCE = "acs.dashscope"
EVENT_TYPE = "dashscope:System:AsyncTaskFinish"
# The task states DashScope reports [protocol notes §6, §14]; an event carries an end state.
EVENT_STATES = ("PENDING", "RUNNING", "SUSPENDED", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
_WHERE: dict[str, Any] = {"provider": wire.PROVIDER, "operation": "webhook"}


def read_event(
    headers: Mapping[str, str], body: bytes, settings: DashScopeSettings, now: datetime
) -> WebhookDelivery:
    """The notice in one EventBridge delivery; WebhookRejected (401 for a missing or wrong
    token or another account's event, 400 for anything else) when it cannot be taken.

    `headers` have lower-case names. The token is checked before the body is read, so an
    unauthenticated sender learns nothing about what this endpoint accepts.
    """
    check_token(headers, settings)
    event = _parse(body)
    account = settings.events_account_id
    if account is not None and str(event.get("aliyunaccountid", "")) != account:
        raise WebhookRejected(
            "Refused a DashScope event of another Alibaba Cloud account.",
            hint="Set events_account_id to your account id (the console's top-right menu), "
            "or point only your own account's rule at this endpoint.",
            http_status=401,
            **_WHERE,
        )
    data = event["data"]
    task_id = data["task_id"]
    state = wire.STATES[data["task_status"]]
    try:
        status = TaskStatus(
            provider=wire.PROVIDER,
            task_id=task_id,
            state=state,
            checked_at=now,
            finished_at=wire.parse_time(data.get("end_time")) if state.is_terminal else None,
        )
    except MALFORMED:
        raise _malformed("its data cannot be read as a task's status") from None
    # CloudEvents: source + id names one event; a redelivery repeats both.
    return WebhookDelivery(id=f"{event['source']}#{event['id']}", status=status, notice=True)


def check_token(headers: Mapping[str, str], settings: DashScopeSettings) -> None:
    """Refuse (WebhookRejected 401; 404 when events are not configured) a delivery whose
    `events_header` is not `events_token`."""
    token = settings.events_token
    if token is None:
        raise WebhookRejected(
            "DashScope completion events are not configured here, so this delivery cannot "
            "be verified.",
            hint="Set events_token in [dashscope] to the Token of your EventBridge HTTP "
            "target (docs/providers/dashscope.md, Completion events).",
            http_status=404,
            **_WHERE,
        )
    sent = headers.get(settings.events_header)
    if sent is None:
        raise WebhookRejected(
            f"Refused a DashScope event without the {settings.events_header} header.",
            hint="Give the EventBridge HTTP target the Token set as events_token, or set "
            "events_header to the header your target sends it in.",
            http_status=401,
            **_WHERE,
        )
    if not hmac.compare_digest(sent.strip().encode(), token.get_secret_value().encode()):
        raise WebhookRejected(
            f"Refused a DashScope event: its {settings.events_header} is not events_token.",
            hint="Make the EventBridge HTTP target's Token and events_token the same.",
            http_status=401,
            **_WHERE,
        )


def _parse(body: bytes) -> dict[str, Any]:
    """The CloudEvent in `body`, checked field by field (WebhookRejected 400)."""
    try:
        event = parse_json(body)
    except ValueError:
        raise _malformed("the body is not JSON (or nests too deeply)") from None
    if isinstance(event, list):
        # EventBridge's HTTP targets push one event per request; a batch would mean a
        # target set up for something else, and half-applying one helps nobody.
        raise _malformed("the body is a JSON array; this endpoint takes one event per request")
    if not isinstance(event, dict):
        raise _malformed("the body is not a JSON object")
    if event.get("specversion") != "1.0":
        raise _malformed("specversion is not 1.0 (not a CloudEvents 1.0 structured event)")
    for name in ("id", "source", "type"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise _malformed(f"the CloudEvent has no {name}")
    if event["source"] != EVENT_SOURCE or event["type"] != EVENT_TYPE:
        raise _malformed(
            f"source {event['source'][:100]!r} and type {event['type'][:100]!r} are not "
            f"{EVENT_SOURCE} {EVENT_TYPE}; check the rule's event pattern"
        )
    data = event.get("data")
    if isinstance(data, str):
        # A datacontenttype of JSON may still arrive with `data` as encoded text.
        try:
            data = event["data"] = parse_json(data)
        except ValueError:
            raise _malformed("data is not JSON") from None
    if not isinstance(data, dict):
        raise _malformed("data is not an object (set the target's Body to the complete event)")
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not wire.TASK_ID.fullmatch(task_id):
        raise _malformed("data.task_id is missing or not a DashScope task id")
    task_status = data.get("task_status")
    if task_status not in EVENT_STATES or task_status not in wire.STATES:
        raise _malformed(f"data.task_status is not one of {', '.join(EVENT_STATES)}")
    return event


def _malformed(why: str) -> WebhookRejected:
    return WebhookRejected(
        f"Refused a malformed DashScope event: {why}.",
        hint="Point an EventBridge rule for source acs.dashscope, type "
        "dashscope:System:AsyncTaskFinish at this endpoint, Body: complete event.",
        http_status=400,
        **_WHERE,
    )
