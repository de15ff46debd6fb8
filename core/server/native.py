"""The native API: what `/v1/videos` cannot say (the full VideoRequest, cost caps and
estimates, the providers and their models)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from ..models import Estimate, VideoRequest
from ..spending import period_start
from .requests import remote_media_only
from .videos import Gw, Who
from .views import to_wire
from .wire import Video

__all__ = ["router"]

router = APIRouter(prefix="/v1")


class TaskCreate(BaseModel):
    """A task with everything VideoRequest holds; `model` picks the provider as in /v1/videos."""

    model: str | None = Field(default=None, description='"<provider>/<model>" or an alias.')
    request: VideoRequest = Field(description="The request; its own `model` is ignored.")
    max_cost: str | None = Field(
        default=None, description='Refuse, unsent, an estimate above this ("2.50 USD").'
    )
    callback_url: str | None = Field(
        default=None, description="Where the video is POSTed, signed, when it ends."
    )


class TaskView(BaseModel):
    video: Video
    request: dict[str, Any]


class EstimateAsk(BaseModel):
    model: str | None = None
    request: VideoRequest


def _resolved(gw: Any, who: Any, model: str | None, request: VideoRequest) -> Any:
    provider, name, asked = gw.resolve_model(model)
    who.check_model(provider, name, asked)
    return provider, asked, remote_media_only(request.model_copy(update={"model": name}), "request")


@router.post("/tasks", response_model=TaskView)
async def create_task(
    body: TaskCreate,
    who: Who,
    gw: Gw,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TaskView:
    """Submit a full VideoRequest; the answer's `video` is the same object /v1/videos shows."""
    provider, asked, request = _resolved(gw, who, body.model, body.request)
    row = await gw.submit(
        who,
        provider,
        asked,
        request,
        idempotency_key,
        max_cost=body.max_cost,
        callback_url=body.callback_url,
    )
    return TaskView(video=to_wire(row), request=request.model_dump(mode="json"))


@router.get("/tasks/{video_id}", response_model=TaskView)
async def get_task(video_id: str, who: Who, gw: Gw) -> TaskView:
    row = gw.get(who, video_id)
    return TaskView(video=to_wire(row), request=json.loads(row.request_json))


@router.post("/estimates", response_model=Estimate)
async def estimate(body: EstimateAsk, who: Who, gw: Gw) -> Estimate:
    """What the request is expected to cost, or why that cannot be told."""
    provider, _, request = _resolved(gw, who, body.model, body.request)
    result: Estimate = gw.client(provider).estimate(request)
    return result


@router.get("/costs")
async def costs(
    who: Who, gw: Gw, period: Literal["hour", "day", "week", "month"] = "day"
) -> dict[str, Any]:
    """This caller's spending this period (estimates, actual costs once reported)."""
    now = gw.clock.now()
    since = period_start(now, period)
    spent: dict[str, str] = {}
    for currency in gw.store.currencies(who.name):
        amount: Decimal = gw.store.spent(who.name, int(since.timestamp() * 1000), currency)
        spent[currency] = str(amount)
    cap = who.max_spend
    return {
        "caller": who.name,
        "period": period,
        "since": since.astimezone(timezone.utc).isoformat(),
        "spent": spent,
        "max_spend": cap if who.spend_period == period else None,
    }


@router.get("/providers")
async def providers(gw: Gw) -> dict[str, Any]:
    """The installed providers and what each can do."""
    from ..plugins import list_providers
    from ..provider import Operation

    rows = [
        {
            "name": info.name,
            "capabilities": [op.value for op in Operation if op in info.capabilities],
            "error": info.error,
        }
        for info in list_providers()
    ]
    return {"object": "list", "data": rows}


@router.get("/models")
async def models(gw: Gw) -> dict[str, Any]:
    """Every provider's model catalogue as "<provider>/<model>", and the configured aliases."""
    from ..plugins import list_providers
    from ..provider import Declaration

    data: list[dict[str, Any]] = []
    for info in list_providers():
        if info.provider_class is None:
            continue
        for model in Declaration.of(info.provider_class, info.name).models:
            data.append(
                {
                    "id": f"{info.name}/{model.id}",
                    "object": "model",
                    "owned_by": info.name,
                    **model.model_dump(mode="json", exclude={"id"}),
                }
            )
    for alias, target in sorted(gw.settings.models.items()):
        data.append({"id": alias, "object": "model", "owned_by": "alias", "target": target})
    created = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())
    for row in data:
        row.setdefault("created", created)
    return {"object": "list", "data": data}
