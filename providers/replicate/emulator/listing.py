"""The emulated `GET /v1/predictions`: newest first, a page at a time, cursor-paginated.

Replicate's API answers `{"next", "previous", "results"}` with 100 predictions a page,
filtered by `created_after` (inclusive) and `created_before` (exclusive) [http-api,
predictions.list]. Its cursors are those of Django REST framework's `CursorPagination`:
base64 of a query string holding `p`, the position (the `created_at` of the page's last
row, as `str(datetime)`), and `o`, how many rows at that very position were already served
(the public `next` links decode to `p=2022-01-21+23%3A18%3A24.530357%2B00%3A00`). `next`
keeps the request's other query parameters. `previous` is always null here: nothing in
videoprovider walks backwards.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode


class Listed(Protocol):
    created_at: datetime


def _cursor(position: datetime, offset: int) -> str:
    tokens = {"o": str(offset)} if offset else {}
    tokens["p"] = str(position)
    return base64.b64encode(urlencode(tokens).encode("ascii")).decode("ascii")


def _position(cursor: str) -> tuple[datetime, int] | None:
    try:
        tokens = parse_qs(base64.b64decode(cursor, validate=True).decode("ascii"), True, True)
        return datetime.fromisoformat(tokens["p"][0]), int(tokens.get("o", ["0"])[0])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
        return None


def _instant(query: dict[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(name)
    return when


def list_page(
    rows: Sequence[Listed],
    query: dict[str, str],
    page_size: int,
    link: Callable[[dict[str, str]], str],
    view: Callable[[Any], dict[str, Any]],
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body answering `GET /predictions?{query}` over `rows` (in creation
    order); `link(query)` is the URL of the listing with that query."""
    try:
        after, before = _instant(query, "created_after"), _instant(query, "created_before")
    except ValueError as exc:
        return 400, {"detail": f"{exc.args[0] if exc.args else 'date'}: not an ISO 8601 date-time"}
    if query.get("source") not in (None, "web"):
        return 400, {"detail": "source: the only value supported is web"}
    position, served = None, 0
    if "cursor" in query:
        start = _position(query["cursor"])
        if start is None:
            return 404, {"detail": "Invalid cursor"}
        position, served = start
    # Newest first; rows created at the same instant keep a stable order, newest first too.
    chosen = [
        r
        for r in reversed(rows)
        if (after is None or r.created_at >= after)
        and (before is None or r.created_at < before)
        and query.get("source") != "web"  # every emulated prediction came from the API
    ]
    if position is not None:
        at_position = [r for r in chosen if r.created_at == position][served:]
        chosen = at_position + [r for r in chosen if r.created_at < position]
    page, rest = chosen[:page_size], chosen[page_size:]
    next_link = None
    if rest:
        last = page[-1].created_at
        offset = sum(1 for r in page if r.created_at == last)
        if last == position:
            offset += served
        next_link = link({**query, "cursor": _cursor(last, offset)})
    return 200, {"next": next_link, "previous": None, "results": [view(r) for r in page]}
