"""The plugin surface, as pluggy hook specifications.

Two kinds of hooks live here:

* **Provider operations** (`videoprovider_submit`, `_status`, `_url`, `_cancel`) are implemented
  by exactly one provider plugin per client. They are `firstresult` hooks that return an
  awaitable; the client awaits it. A provider implements the operations it lists in its
  `capabilities`, no more and no fewer (checked when it is loaded).
* **Host events** (`videoprovider_task_submitted`, `_updated`, `_finished`) are implemented by
  any number of host-application plugins registered with `client.register(plugin)`. They are
  notifications: their return values are ignored, except that an awaitable is awaited.

Hooks are always called with keyword arguments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import httpx

    from .models import Task, TaskPage, TaskStatus, VideoRequest, WebhookDelivery

__all__ = ["hookimpl", "hookspec"]

PROJECT = "videoprovider"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

OPERATION_HOOKS = (
    "videoprovider_submit",
    "videoprovider_status",
    "videoprovider_url",
    "videoprovider_cancel",
)
PROVIDER_SUPPORT_HOOKS = (
    "videoprovider_check_request",
    "videoprovider_http_mounts",
    "videoprovider_aclose",
    "videoprovider_webhook",
    "videoprovider_list_tasks",
    "videoprovider_recover_submit",
    "videoprovider_download_headers",
    "videoprovider_watch",
)
EVENT_HOOKS = (
    "videoprovider_task_submitted",
    "videoprovider_task_updated",
    "videoprovider_task_finished",
)


# -- provider operations -------------------------------------------------------------------


@hookspec(firstresult=True)
def videoprovider_submit(request: VideoRequest) -> Awaitable[Task] | None:
    """Start generating `request`; return the accepted `Task`.

    Validate the request against the provider's own limits *before* sending anything and raise
    `RequestRejected` (naming the field and the allowed values) when it cannot succeed. Raise
    `SubmitOutcomeUnknown` when the request may have been accepted but no reply arrived, and
    never resend a submit that may have landed: that pays for a duplicate video. A provider
    that declares `recoverable_submits` may instead ask for the task by the submit's
    client-chosen id (see `videoprovider_recover_submit`) and return it, resending only
    when the service answers that it has no such task.
    """


@hookspec
def videoprovider_check_request(request: VideoRequest) -> None:
    """Refuse, sending nothing, a request `videoprovider_submit` would refuse: raise
    `RequestRejected` naming the field and the allowed values. Optional.

    The client calls it before it estimates a cost (`estimate`, `max_cost`, `max_spend`) and
    before each submit, so an estimate is never printed for a request that cannot run. Check
    only what needs no request to the service; submit checks the rest again.
    """


@hookspec(firstresult=True)
def videoprovider_status(task_id: str) -> Awaitable[TaskStatus] | None:
    """Return the current `TaskStatus` of `task_id`.

    A task the provider does not know (never existed, expired) is reported as state UNKNOWN,
    not raised. The id comes from outside (a host's user, a stored ref): check it against
    what the service issues and percent-encode it before it goes into a URL.

    Who retries a failed poll: the client's poll scheduler, inside the account's request
    budget. While it calls this hook, `videoprovider.provider.single_attempt.get()` is True:
    make exactly one request and raise on failure: `RateLimited(retry_after=...)` when
    throttled (the scheduler pauses every poll of the account), `ProviderUnavailable` for a
    transient fault, `ProtocolError` for a garbled reply (retried a few times). Only when it
    is False (a direct `client.status()` from a host) may the provider retry transient
    faults itself, with backoff; `videoprovider.backoff.Backoff` caps any retry-after.
    """


@hookspec(firstresult=True)
def videoprovider_url(task_id: str) -> Awaitable[str] | None:
    """Return a download URL for the video of a COMPLETED task.

    Raise `TaskNotReady` when the task has not completed, `TaskFailed` when it failed.
    """


@hookspec(firstresult=True)
def videoprovider_cancel(task_id: str) -> Awaitable[TaskStatus] | None:
    """Ask the provider to cancel `task_id`; return the status after the request.

    Only providers that can stop a task reliably declare this capability.
    """


@hookspec(firstresult=True)
def videoprovider_webhook(
    headers: Mapping[str, str], body: bytes
) -> Awaitable[WebhookDelivery] | None:
    """Verify and read a delivery the provider's service pushed to the host (optional).

    `headers` have lower-case names; `body` is the raw request body, exactly as received
    (signatures cover it byte for byte). Return a `WebhookDelivery`: the delivery's own id
    (the client ignores an id it has already seen, so a replay changes nothing) and the
    task's `TaskStatus`, as a poll would report it. Raise `WebhookRejected` with
    `http_status` 401 for a forged or stale delivery and 400 for a malformed one; verify
    with a constant-time comparison and refuse timestamps older than a few minutes. Never
    make a request to the service here: the status must come from the verified body.

    A delivery that only announces that a task finished, without its result (DashScope's
    completion events carry no video URL), sets `notice=True` and the state it announces:
    the client then fetches the task's status once, in the account's request budget, and
    that status ends the waits. Such a notice can at worst cost a status request, never end
    a wait by itself, so a replay of one needs no timestamp check.
    """


@hookspec(firstresult=True)
def videoprovider_list_tasks(
    since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
) -> Awaitable[TaskPage] | None:
    """One page of the account's tasks created between `since` and `until` (aware
    datetimes, at most 24 hours apart), of `model` when given: exactly one request.

    `page` is None for the first page, else the `next_page` token of the previous one (the
    provider's own format; refuse one it did not issue). With `finished`, the caller wants
    only tasks in a terminal state: filter at the service when it can (rows in other states
    are tolerated and ignored). Give each status its `submitted_at` in the service's clock
    when the listing says it. Optional.

    The client uses it to settle a submit whose outcome is unknown, and to learn which of
    the tasks it waits on have finished, fetching each one's final status with
    `videoprovider_status`: a listing alone never ends a wait, and a task a listing misses
    is still found by the client's slow per-task polls. Raise like `videoprovider_status`
    does under `single_attempt`: `RateLimited` when throttled, `ProviderUnavailable` for a
    transient fault, `UnsupportedOperation` when the account cannot list.
    """


@hookspec(firstresult=True)
def videoprovider_recover_submit(request: VideoRequest) -> Awaitable[Task | None] | None:
    """Find the task a submit of `request` created, by the client-chosen id it carries.

    Implemented by providers that declare `recoverable_submits` (the `request.extra` key
    holding the id). Return the `Task` when the service has one with that id; return None
    only when the service *provably* has none (it answered that no such task exists), so
    that sending the create again, with the same id, cannot pay for a second video. Raise
    (`ProviderUnavailable`, `RateLimited`, `ProtocolError`) when it cannot tell: the submit
    then stays an unknown outcome, to be recovered later. One request, never a create.
    """


@hookspec(firstresult=True)
def videoprovider_watch(task_id: str) -> AsyncIterator[TaskStatus] | None:
    """Follow `task_id` on the service's status stream (SSE, a long poll); optional.

    Implemented by providers that declare `status_stream = True`. Return an async iterator
    (an `async def` with `yield`) of the task's `TaskStatus`, one each time the service
    reports a change, or None when it cannot stream this task now (the client then polls).
    The client opens at most one stream per waited task, and only while its request budget
    and its `watch_streams` cap allow: each stream opened counts as one request against the
    budget, as one poll does, so make exactly one request to open it (the client sets
    `single_attempt`) and read it over the provider's own connections, never ones its polls
    queue on. Its statuses reach the waits exactly as polled ones do. Not used for a
    provider whose updates are pushed (`pushes_updates`), nor by `resume`.

    The stream's end or error, before a terminal status, falls back to polling: the client
    polls the task at once, then on its usual schedule; raise as `videoprovider_status`
    does (`RateLimited(retry_after=...)` pauses every poll of the account). A stream never
    ends a wait by itself unless it yields a terminal status the provider vouches for as it
    would in a status reply: where the service's event only says "finished", fetch the
    outcome (fal's result) as the status hook would and yield that, then stop.
    """


@hookspec
def videoprovider_http_mounts() -> Mapping[str, httpx.AsyncBaseTransport] | None:
    """Extra httpx transports for the download client, keyed by URL pattern.

    Lets a provider serve its videos from somewhere other than the network (the fake provider
    serves `https://fake.videoprovider.invalid/...` from memory) while `download` stays the one
    code path every provider uses.
    """


@hookspec(firstresult=True)
def videoprovider_download_headers(url: str) -> Mapping[str, str] | None:
    """Headers (credentials) the provider's own service needs to serve the video at `url`.

    Called, synchronously, before every request of a download, redirect hops included, with
    that hop's URL. Return the headers only for URLs on the origin (scheme, host and port)
    your key belongs to, and None for every other URL: a video URL on another host, or a
    redirect to one, must never receive your key. Headers returned for one hop are removed
    from the next hop unless you return them again. Optional: without it downloads carry no
    credentials.
    """


@hookspec
def videoprovider_aclose() -> Awaitable[None] | None:
    """Release the provider's resources (HTTP connection pools). Called once by the client."""


# -- host events ---------------------------------------------------------------------------


@hookspec
def videoprovider_task_submitted(task: Task) -> Awaitable[None] | None:
    """A task was accepted by its provider. Store `task` to find it again after a crash."""


@hookspec
def videoprovider_task_updated(
    task: Task, status: TaskStatus, previous: TaskStatus | None
) -> Awaitable[None] | None:
    """`wait` observed a new state or progress for `task` (`previous` is None on the first)."""


@hookspec
def videoprovider_task_finished(
    task: Task, status: TaskStatus, path: str | None
) -> Awaitable[None] | None:
    """`task` reached a terminal state; `path` is set when `generate` saved the video.

    A completion's `status.cost` is what it cost, actual (`cost.actual`) where the provider
    reported usage, else the estimate: what a host bills its own user (docs/host-events.md).
    """
