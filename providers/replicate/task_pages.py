"""Replicate's prediction listing (`GET /v1/predictions`): its query, page tokens and rows.

The listing is newest first, 100 predictions a page, filtered by `created_after`
(inclusive) and `created_before` (exclusive); it has no filter by model or by status
[http-api, predictions.list]. Each page links the next one with a full URL whose `cursor`
parameter is a Django REST framework cursor: base64 of a query string of `p` (a position),
`o` (an offset) and `r` (reverse). The page token handed to the client is that cursor alone:
the `next` URL came from a reply and is never requested as it is (a link to another host
would get our token), and a token comes back from the client's caller, so one that is not
such a cursor is refused before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from videoprovider import errors
from videoprovider.errors import malformed_reply
from videoprovider.models import TaskStatus

from . import wire

__all__ = ["parse_page", "query"]

log = logging.getLogger("videoprovider.replicate")

_CURSOR = re.compile(r"[A-Za-z0-9+/]{4,1000}={0,2}")
_CURSOR_KEYS = {"o", "p", "r"}


def _stamp(name: str, when: datetime) -> str:
    if when.tzinfo is None or when.utcoffset() is None:
        raise errors.ConfigurationError(
            f"{name} ({when.isoformat()}) has no time zone, so it names no instant.",
            hint="Pass an aware datetime, e.g. datetime.now(timezone.utc).",
            provider=wire.PROVIDER,
            operation="list",
        )
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_cursor(value: str) -> bool:
    """Whether `value` is a cursor as Replicate issues them (see the module docstring)."""
    if not _CURSOR.fullmatch(value):
        return False
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
        tokens = parse_qs(text, keep_blank_values=True, strict_parsing=True)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return bool(tokens) and set(tokens) <= _CURSOR_KEYS


def query(since: datetime, until: datetime, page: str | None) -> dict[str, str]:
    """The query of one listing request; ConfigurationError, before any request, for a
    naive window or a page token that is not a Replicate cursor."""
    params = {
        "created_after": _stamp("since", since),
        "created_before": _stamp("until", until),
    }
    if page is not None:
        if not is_cursor(page):
            raise errors.ConfigurationError(
                f"{page[:40]!r} is not a Replicate listing page token; nothing was sent.",
                hint="Pass the next_page of the previous page, or None for the first.",
                provider=wire.PROVIDER,
                operation="list",
            )
        params["cursor"] = page
    return params


def _next_cursor(link: Any, response: httpx.Response) -> str | None:
    """The cursor in the reply's `next` link (None on the last page)."""
    if link is None:
        return None
    cursors = parse_qs(urlsplit(link).query).get("cursor", []) if isinstance(link, str) else []
    if len(cursors) != 1 or not is_cursor(cursors[0]):
        raise errors.ProtocolError(
            f"Replicate's listing links its next page without a cursor this provider can "
            f"follow: {wire.excerpt(str(link))!r}.",
            provider=wire.PROVIDER,
            operation="list",
            http_status=response.status_code,
        )
    return cursors[0]


def _of_model(row: dict[str, Any], model: wire.ModelRef | None) -> bool:
    if model is None:
        return True
    if model.version is not None and row.get("version") != model.version:
        return False
    return row.get("model") == f"{model.owner}/{model.name}" or (
        model.version is not None and row.get("model") is None
    )


@malformed_reply("Replicate's prediction listing", provider=wire.PROVIDER, operation="list")
def parse_page(
    response: httpx.Response,
    since: datetime,
    until: datetime,
    model: wire.ModelRef | None,
    checked_at: datetime,
) -> tuple[list[TaskStatus], str | None]:
    """The statuses on one page in the window (of `model`, when given) and the next cursor.

    Rows are kept to the window even though the query asks the service for it, and paging
    stops at a row older than `since`: the list is newest first, so past it nothing else
    can be in the window. A row that is not a video prediction (another model's text or
    image output) is left out: no status could be reported for it.
    """
    body = wire.json_body(response, "list")
    rows = body.get("results") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise errors.ProtocolError(
            f"Replicate's prediction listing has no results: {wire.excerpt(response.text)!r}.",
            provider=wire.PROVIDER,
            operation="list",
            http_status=response.status_code,
        )
    cursor = _next_cursor(body.get("next"), response)
    statuses = []
    for row in rows:
        if not isinstance(row, dict) or not wire.is_prediction_id(row.get("id")):
            continue
        created = wire.parse_time(row.get("created_at"))
        if created is not None and created < since:
            cursor = None
            continue
        if (created is not None and created >= until) or not _of_model(row, model):
            continue
        try:
            statuses.append(wire.status_of(row, row["id"], checked_at, "list"))
        except errors.ProtocolError as exc:
            log.debug("listing: left out prediction %s: %s", row["id"], exc.message)
    return statuses, cursor
