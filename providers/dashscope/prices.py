"""What the Wan models cost, as Alibaba Cloud Model Studio publishes it, per region.

Only figures read on an official Model Studio page are here, each row with its page and the
date that page gives as its last update. International (Singapore) prices are in USD,
mainland (Beijing) prices in CNY; a model or region not listed has no published price we
could verify, so its estimate is unknown, never guessed. Users add or override rows under
`[[prices.dashscope]]` in the config file. `docs/providers/dashscope.md` shows this table.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from videoprovider.prices import Price

_INTL = "https://www.alibabacloud.com/help/en/model-studio/"
_CN = "https://help.aliyun.com/zh/model-studio/"
T2V_INTL = _INTL + "text-to-video-api-reference"
I2V_INTL = _INTL + "image-to-video-api-reference"
KF2V_INTL = _INTL + "image-to-video-by-first-and-last-frame-api-reference"
T2V_CN = _CN + "text-to-video-api-reference"
I2V_CN = _CN + "image-to-video-api-reference"


def _row(
    model: str, per_second: str, region: str, source: str, as_of: date, resolution: str | None
) -> Price:
    currency = "CNY" if region == "beijing" else "USD"
    return Price(
        model=model,
        currency=currency,
        per_second=Decimal(per_second),
        resolution=resolution,
        region=region,
        source=source,
        as_of=as_of,
    )


def _intl(model: str, usd: str, source: str, as_of: date) -> Price:
    return _row(model, usd, "singapore", source, as_of, None)


def _cn(model: str, cny: str, source: str, as_of: date, resolution: str | None = None) -> Price:
    return _row(model, cny, "beijing", source, as_of, resolution)


# "Last Updated" of each page as read; the mainland text-to-video page's copy showed no date,
# so its rows carry the day they were read.
_T2V_INTL_DATE = date(2025, 5, 22)
_I2V_INTL_DATE = date(2025, 6, 10)
_I2V_CN_DATE = date(2025, 6, 5)
_T2V_CN_READ = date(2026, 11, 29)

PRICES: tuple[Price, ...] = (
    _intl("wan2.1-t2v-turbo", "0.036", T2V_INTL, _T2V_INTL_DATE),
    _intl("wan2.1-t2v-plus", "0.10", T2V_INTL, _T2V_INTL_DATE),
    _intl("wan2.1-i2v-turbo", "0.036", I2V_INTL, _I2V_INTL_DATE),
    _intl("wan2.1-i2v-plus", "0.10", I2V_INTL, _I2V_INTL_DATE),
    _intl("wan2.1-kf2v-plus", "0.10", KF2V_INTL, _I2V_INTL_DATE),
    _cn("wan2.2-t2v-plus", "0.14", T2V_CN, _T2V_CN_READ, "480P"),
    _cn("wan2.2-t2v-plus", "0.70", T2V_CN, _T2V_CN_READ, "1080P"),
    _cn("wanx2.1-t2v-turbo", "0.24", T2V_CN, _T2V_CN_READ),
    _cn("wanx2.1-t2v-plus", "0.70", T2V_CN, _T2V_CN_READ),
    _cn("wanx2.1-i2v-turbo", "0.24", I2V_CN, _I2V_CN_DATE),
    _cn("wanx2.1-i2v-plus", "0.70", I2V_CN, _I2V_CN_DATE),
)


def markdown_table() -> str:
    """The price table as docs/providers/dashscope.md prints it (a test keeps them equal)."""
    rows = ["| model | region | resolution | price | source | as of |", "|---|---|---|---|---|---|"]
    for p in PRICES:
        rows.append(
            f"| `{p.model}` | {p.region} | {p.resolution or 'any'} | {p.rate} "
            f"| [{p.source.rsplit('/', 1)[-1]}]({p.source}) "
            f"| {p.as_of} |"
        )
    return "\n".join(rows)
