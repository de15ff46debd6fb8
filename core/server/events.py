"""`GET /v1/videos/{id}/events`: a video's changes as Server-Sent Events, without polling.

Each event is the whole video object, its id the video's revision: a client reconnecting
with `Last-Event-ID` gets the current state if it changed since, never a replay of states
it has seen, and always the end. A change this process makes wakes the stream at once; one
made by another process sharing the store is seen at the next look.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

from .videos import Gw, Who
from .views import to_wire

__all__ = ["router"]

router = APIRouter(prefix="/v1")
ENDED = ("completed", "failed")
# Another process sharing the store (--workers) changes videos without telling this one:
# look at the store this often too (seconds of the gateway's clock).
LOOK_AGAIN = 2.0


def _known(video_id: str, who: Who, gw: Gw) -> str:
    # A dependency runs before the stream starts, so an unknown id is a plain 404.
    return gw.get(who, video_id).id


@router.get("/videos/{video_id}/events", response_class=EventSourceResponse)
async def video_events(
    video_id: Annotated[str, Depends(_known)],
    who: Who,
    gw: Gw,
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """`event: video` with the video object at each change, then `event: end`."""
    seen = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1
    while True:
        changed = gw.watch(video_id)
        row = gw.store.get(video_id, who.name)
        if row is None:
            yield ServerSentEvent(event="deleted", data={"id": video_id})
            return
        if row.revision > seen:
            seen = row.revision
            yield ServerSentEvent(
                event="video", id=str(row.revision), data=to_wire(row).model_dump(mode="json")
            )
        if row.status in ENDED:
            yield ServerSentEvent(event="end", data={"id": video_id, "status": row.status})
            return
        await _either(changed.wait(), gw.clock.sleep(LOOK_AGAIN))


async def _either(*waits: Awaitable[Any]) -> None:
    """Return when the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
