"""Page tokens of DashScope's task listing (`GET /api/v1/tasks`).

The listing filters on one `status` at a time, and a token names both the status being
listed and the page number, so the client can walk every finished task (the SUCCEEDED pages,
then the FAILED ones) one request at a time. Tokens come back from the client; one this
module did not issue is refused rather than sent.
"""

from __future__ import annotations

import re

from videoprovider.errors import ConfigurationError

__all__ = ["FINISHED", "PAGE_SIZE", "next_token", "parse_token"]

PAGE_SIZE = 100  # the most the emulator serves; the SDK's default is 10 [protocol notes §3]
MAX_PAGES = 1000  # 100,000 tasks in one window: a token past it is not one we issued
# Canceled tasks (only another program could cancel one: this provider cannot) and expired
# ones are left to the client's per-task polls.
FINISHED = ("SUCCEEDED", "FAILED")
TOKEN = re.compile(r"(?:(?P<status>[A-Z]+):)?(?P<page>[1-9][0-9]{0,5})")


def parse_token(page: str | None, finished: bool) -> tuple[str | None, int]:
    """The status to list (None: all) and the page number `page` stands for."""
    if page is None:
        return (FINISHED[0] if finished else None), 1
    match = TOKEN.fullmatch(page)
    status = match["status"] if match else None
    if (
        match is None
        or int(match["page"]) > MAX_PAGES
        or (status is not None) != finished
        or (status is not None and status not in FINISHED)
    ):
        raise ConfigurationError(
            f"{page[:40]!r} is not a DashScope listing page token.",
            hint="Pass the next_page of the previous page, or None for the first.",
        )
    return status, int(match["page"])


def next_token(status: str | None, page_no: int, pages: int) -> str | None:
    """The token after page `page_no` of `pages` listing `status`, or None after the last."""
    if page_no < min(pages, MAX_PAGES):
        return f"{status}:{page_no + 1}" if status else str(page_no + 1)
    if status is not None and status != FINISHED[-1]:
        return f"{FINISHED[FINISHED.index(status) + 1]}:1"
    return None
