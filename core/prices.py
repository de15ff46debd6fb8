"""What a video costs before it is made: price tables as data, estimates, the per-request cap.

A provider declares `prices`, a tuple of `Price` taken from its own price pages, each with
its `source` and the date it was read; the user adds or overrides rows in the config file's
`[prices]` table. Where no row fits, the estimate is unknown and says why: never a guess.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .catalog import ModelInfo
from .errors import ConfigurationError, RequestRejected
from .models import Billed, Cost, Estimate, VideoRequest

__all__ = [
    "Cost",
    "Estimate",
    "Price",
    "actual_cost",
    "check_cap",
    "estimate",
    "parse_cap",
    "prices_of",
    "user_prices",
]

# Frame areas of the common quality tiers: an exact size is billed at the nearest one
# (832*480 and 624*624 are both 480P; 1088*832 is 720P).
_TIER_PIXELS = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}


class Price(BaseModel):
    """One row of a price table: what `model` costs, per output second or per video."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(description="A model id, or a pattern such as wan2.6-t2v-*.")
    currency: str = Field(description="ISO 4217 code, e.g. USD or CNY.")
    per_second: Decimal | None = Field(default=None, ge=0, description="Per output second.")
    per_video: Decimal | None = Field(default=None, ge=0, description="Per video.")
    per_compute_second: Decimal | None = Field(
        default=None, ge=0, description="Per second of compute (hardware billed by time)."
    )
    resolution: str | None = Field(default=None, description="Tier it applies to; None: any.")
    region: str | None = Field(default=None, description="Region it applies to; None: any.")
    source: str = Field(default="", description="Where the figure was read.")
    as_of: date | None = Field(default=None, description="When it was read.")

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", v.strip()):
            raise ValueError(f"currency must be a 3-letter code such as USD or CNY, got {v!r}")
        return v.strip().upper()

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: str | None) -> str | None:
        return v.strip().upper() if v else None

    @model_validator(mode="after")
    def _one_rate(self) -> Price:
        rates = (self.per_second, self.per_video, self.per_compute_second)
        if sum(rate is not None for rate in rates) != 1:
            raise ValueError(
                f"price of {self.model!r} needs exactly one of per_second, per_video, "
                "per_compute_second"
            )
        return self

    @property
    def rate(self) -> str:
        """The figure as people read it: "0.10 USD/s" or "0.50 USD/video"."""
        if self.per_second is not None:
            return f"{self.per_second} {self.currency}/s"
        if self.per_compute_second is not None:
            return f"{self.per_compute_second} {self.currency}/compute s"
        return f"{self.per_video} {self.currency}/video"

    def fits(self, model: str, region: str | None) -> bool:
        return fnmatch.fnmatchcase(model, self.model) and self.region in (None, region)


def prices_of(model: str, prices: Iterable[Price]) -> list[Price]:
    """The rows that price `model`, a catalogue id that may itself be a pattern
    (`wan2.2-t2v-*` is priced by the `wan2.2-t2v-plus` rows)."""
    return [
        p
        for p in prices
        if fnmatch.fnmatchcase(model, p.model) or fnmatch.fnmatchcase(p.model, model)
    ]


def tier_of(request: VideoRequest) -> str | None:
    """The quality tier `request` asks for: its resolution, else the tier of its exact size."""
    if request.resolution:
        return request.resolution.strip().upper()
    if request.size and re.fullmatch(r"\d+\*\d+", request.size):
        w, h = (int(n) for n in request.size.split("*"))
        return min(_TIER_PIXELS, key=lambda t: abs(_TIER_PIXELS[t] - w * h))
    return None


def estimate(
    request: VideoRequest,
    *,
    prices: Sequence[Price],
    models: Iterable[ModelInfo] = (),
    default_model: str | None = None,
    region: str | None = None,
) -> Estimate:
    """The cost of `request` from `prices` (rows earlier in the sequence win: put the user's
    first). `models` gives a model's only duration when the request leaves it unset."""
    return _priced(request, None, prices, models, default_model, region)


def actual_cost(
    request: VideoRequest,
    billed: Billed | None,
    *,
    prices: Sequence[Price],
    models: Iterable[ModelInfo] = (),
    default_model: str | None = None,
    region: str | None = None,
) -> Cost:
    """What a finished `request` cost: priced from what the provider `billed` by the same
    rows as the estimate, else the estimate, which then stands (`actual=False`)."""
    if billed is not None:
        found = _priced(request, billed, prices, models, default_model, region)
        if found.known:
            return Cost(**found.model_dump(), actual=True)
    before = _priced(request, None, prices, models, default_model, region)
    return Cost(**before.model_dump())


def _priced(
    request: VideoRequest,
    billed: Billed | None,
    prices: Sequence[Price],
    models: Iterable[ModelInfo],
    default_model: str | None,
    region: str | None,
) -> Estimate:
    model = request.model or default_model
    if model is None:
        return Estimate(basis="no model is set and the provider picks one at submit; set model")
    where = f" in region {region}" if region else ""
    rows = [p for p in prices if p.fits(model, region)]
    if not rows:
        models = tuple(models)
        add = "add one under [prices] in the config file (docs/configuration.md)"
        if models and not any(fnmatch.fnmatchcase(model, m.id) for m in models):
            return Estimate(
                basis=f"{model} is an unknown model (`videoprovider models` lists the known "
                f"ones) with no known price{where}; check its name, or {add}"
            )
        return Estimate(basis=f"no known price for {model}{where}; {add}")
    # The first matching table (the user's) decides alone: a negotiated rate replaces the list.
    rows = [p for p in rows if (p.source, p.as_of) == (rows[0].source, rows[0].as_of)]
    billed_tier = billed.resolution.strip().upper() if billed and billed.resolution else None
    tier = billed_tier or tier_of(request)
    chosen = _by_tier(rows, tier)
    if chosen is None:
        listed = ", ".join(f"{p.resolution or 'any'}: {p.rate}" for p in rows)
        if tier is None:
            why = f"{model} costs differently by resolution ({listed}); set resolution or size"
        else:
            why = f"no known price for {model} at {tier}{where} ({listed})"
        return Estimate(basis=why)
    tier_text = tier or chosen.resolution or "any resolution"
    if chosen.per_video is not None:
        videos = billed.videos if billed else 1
        if videos is None:
            return Estimate(basis="the provider reported no video count")
        basis = f"{videos} video x {tier_text} at {chosen.rate} ({model})"
        return _found(chosen, chosen.per_video * videos, basis)
    if chosen.per_compute_second is not None:
        if billed is None or billed.compute_seconds is None:
            return Estimate(
                basis=f"{model} is priced per second of compute ({chosen.rate}), known only "
                "once the task has run"
            )
        used = _decimal(billed.compute_seconds)
        basis = f"{used} s of compute at {chosen.rate} ({model}{where})"
        return _found(chosen, chosen.per_compute_second * used, basis)
    assert chosen.per_second is not None
    if billed is not None:
        if billed.seconds is None:
            return Estimate(basis="the provider reported no billed duration")
        seconds = _decimal(billed.seconds)
    else:
        duration = request.duration or _only_duration(model, models)
        if duration is None:
            return Estimate(
                basis=f"{model} is priced per second and no duration is set; set duration"
            )
        seconds = Decimal(duration)
    basis = f"{seconds} s x {tier_text} at {chosen.rate} ({model}{where})"
    return _found(chosen, chosen.per_second * seconds, basis)


def _decimal(value: float) -> Decimal:
    # Usage reports may give 5.0 for five seconds; price and show it as the estimate does.
    exact = Decimal(str(value))
    return Decimal(int(exact)) if exact == exact.to_integral_value() else exact


def _found(price: Price, amount: Decimal, basis: str) -> Estimate:
    return Estimate(
        amount=amount, currency=price.currency, basis=basis, source=price.source, as_of=price.as_of
    )


def _by_tier(rows: list[Price], tier: str | None) -> Price | None:
    if tier is not None:
        fitting = [p for p in rows if p.resolution == tier] or [
            p for p in rows if p.resolution is None
        ]
        return fitting[0] if fitting else None
    if len({(p.per_second, p.per_video, p.currency) for p in rows}) == 1:
        return rows[0]
    return None


def _only_duration(model: str, models: Iterable[ModelInfo]) -> int | None:
    for info in models:
        if fnmatch.fnmatchcase(model, info.id) and len(info.durations) == 1:
            return info.durations[0]
    return None


def parse_cap(
    value: Decimal | float | int | str, *, field: str = "max_cost"
) -> tuple[Decimal, str | None]:
    """A cap (`max_cost`, `max_spend`) as (amount, currency or None): 2, "2", "2.50 USD"."""
    text = str(value).strip()
    amount, _, currency = text.partition(" ")
    try:
        number = Decimal(amount)
    except InvalidOperation:
        number = Decimal("NaN")
    if (
        not number.is_finite()
        or number < 0
        or (currency and not re.fullmatch(r"[A-Za-z]{3}", currency.strip()))
    ):
        raise RequestRejected(
            f"{field} {text!r} is not an amount: give a number, optionally with a currency "
            'such as "2.50 USD".',
            field=field,
        )
    return number, currency.strip().upper() or None


def check_cap(
    found: Estimate, max_cost: Decimal | float | int | str, *, allow_unknown: bool
) -> None:
    """Refuse (RequestRejected on `max_cost`) a request whose estimate exceeds the cap, is in
    another currency, or is unknown unless `allow_unknown`."""
    cap, currency = parse_cap(max_cost)
    shown = f"{cap} {currency}" if currency else f"{cap}"
    if found.amount is None:
        if allow_unknown:
            return
        raise RequestRejected(
            f"Not submitted: the cost is unknown ({found.basis}) and max_cost is {shown}.",
            hint="Pass allow_unknown_cost=True (CLI: --allow-unknown-cost) to submit anyway.",
            field="max_cost",
        )
    if currency and currency != found.currency:
        raise RequestRejected(
            f"Not submitted: the estimate is in {found.currency} ({found}) but max_cost is "
            f"{shown}.",
            hint=f"Give max_cost in {found.currency}.",
            field="max_cost",
        )
    if found.amount > cap:
        raise RequestRejected(
            f"Not submitted: the estimate {found} exceeds max_cost {cap} {found.currency}.",
            hint="Raise max_cost, or ask for fewer seconds or a lower resolution.",
            field="max_cost",
        )


def user_prices(sections: Mapping[str, Any], provider: str, file: object) -> tuple[Price, ...]:
    """The rows the config file's `[prices]` table gives `provider` (`[[prices.<name>]]`)."""
    table = sections.get("prices", {}).get(provider, [])
    if not isinstance(table, list):
        raise ConfigurationError(
            f"[prices] {provider} in {file} must be an array of tables: write each price as "
            f"[[prices.{provider}]] with model, currency and per_second or per_video."
        )
    rows = []
    for i, row in enumerate(table):
        try:
            rows.append(Price.model_validate({"source": f"config file ({file})", **row}))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"]))
            why = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigurationError(
                f"Price {i + 1} of [[prices.{provider}]] in {file} is invalid: "
                f"{field + ': ' if field else ''}{why}."
            ) from None
    return tuple(rows)
