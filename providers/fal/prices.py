"""What the catalogued fal endpoints cost, as each endpoint's page on fal.ai states it.

Only figures read on an endpoint's own page (`https://fal.ai/models/<id>/llms.txt`, the
machine-readable copy of its pricing and schema) are here, with the date they were read; an
endpoint not listed (its page states no per-second price, or it was not read) has an unknown
estimate, never a guess. Users add or override rows under `[[prices.fal]]`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from videoprovider.prices import Price

READ = date(2026, 12, 4)


def _page(endpoint: str) -> str:
    return f"https://fal.ai/models/{endpoint}/llms.txt"


def _row(endpoint: str, per_second: str, resolution: str | None = None) -> Price:
    return Price(
        model=endpoint,
        currency="USD",
        per_second=Decimal(per_second),
        resolution=resolution,
        source=_page(endpoint),
        as_of=READ,
    )


KLING = "fal-ai/kling-video/v2.1/master/text-to-video"
VEO3 = "fal-ai/veo3"
LTX = "fal-ai/ltx-2.3/text-to-video"

PRICES: tuple[Price, ...] = (
    # "$1.40 for 5 s, $0.28 for every additional second": a flat $0.28 a second.
    _row(KLING, "0.28"),
    # $0.40 a second with audio (generate_audio defaults to true), $0.20 without: the
    # estimate is the with-audio rate, so it never understates the default.
    _row(VEO3, "0.40"),
    _row(LTX, "0.08", "1080P"),
    _row(LTX, "0.16", "1440P"),
    _row(LTX, "0.32", "2160P"),
)
