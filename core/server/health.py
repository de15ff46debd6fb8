"""`/healthz` (the process answers) and `/readyz` (its store answers, a provider loads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    gateway = request.app.state.gateway
    checks: dict[str, Any] = {}
    try:
        gateway.store.open_rows()
        checks["store"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["store"] = f"failed: {type(exc).__name__}"
    provider, _, _ = gateway.resolve_model(None)
    try:
        gateway.client(provider).capabilities  # noqa: B018 - loads the provider
        checks["provider"] = "ok"
    except Exception as exc:
        checks["provider"] = f"failed: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
