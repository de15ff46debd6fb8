"""`POST /v1/webhooks/{provider}`: the providers' own deliveries (Replicate's webhooks,
DashScope's completion events), received on the gateway's routes.

Each is handed to that provider's client unchanged (`receive_webhook`, core/webhooks.py): the
provider verifies it, and a verified one ends the tracker's wait without another poll, so a
gateway with a public address polls almost nothing. No caller key: the provider's signature
is the authentication.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import VideoProviderError, WebhookRejected
from ..refs import installed_provider_names
from .errors import ApiError, from_provider_error
from .videos import Gw

__all__ = ["router"]

router = APIRouter(prefix="/v1")


@router.post("/webhooks/{provider}")
async def provider_webhook(provider: str, request: Request, gw: Gw) -> JSONResponse:
    """Answers 200 when applied (or a replay), the provider's status (401, 400, 404) when it
    refused the delivery, and 503 when it could not be applied now (the sender retries)."""
    if provider not in installed_provider_names():
        raise ApiError(404, f"No provider {provider!r} is installed here.", param="provider")
    body = await request.body()
    try:
        status = await gw.client(provider).receive_webhook(
            dict(request.headers), body, provider=provider
        )
    except WebhookRejected as exc:
        answer: dict[str, Any] = {"message": exc.message, "type": "invalid_request_error"}
        return JSONResponse({"error": answer}, status_code=exc.http_status or 400)
    except VideoProviderError as exc:
        error = from_provider_error(exc)
        error.status, error.retry_after = 503, 10
        raise error from None
    if status is None:
        return JSONResponse({"replay": True})
    return JSONResponse({"task": status.task_id, "state": status.state.value})
