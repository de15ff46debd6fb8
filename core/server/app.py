"""`create_app(config)`: the gateway as an ASGI app, for `videoprovider serve` or a host's own
server.

FastAPI, because its routes take and return pydantic models (ours already are), it writes
the OpenAPI document from them (`/openapi.json`, for generating Go and TypeScript clients),
and its dependencies carry the caller and the gateway into each route without globals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._version import __version__
from ..clock import Clock, SystemClock
from ..config import Config, load_config
from .callbacks import Callbacks
from .callers import KeyRing, RateLimiter
from .errors import ApiError, install_handlers
from .events import router as events_router
from .gateway import Gateway
from .health import router as health_router
from .metrics import Metrics, RequestMetrics, TaskMetrics
from .metrics import router as metrics_router
from .native import router as native_router
from .provider_hooks import router as provider_hooks_router
from .settings import ServerSettings, server_settings
from .store import Store
from .videos import router as videos_router

__all__ = ["create_app"]


def create_app(
    config: Config | None = None,
    *,
    settings: ServerSettings | None = None,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    callback_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app for `config` (default: the configured one) and its `[server]` section.

    `clock` and `transport` are handed to every client, as in AsyncVideoClient, so tests
    decide when tasks end; `callback_transport` carries the callbacks. The store and the
    clients open in the app's lifespan.
    """
    config = config or load_config()
    settings = settings or server_settings(config)
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.database_url())
        plugins = (TaskMetrics(app.state.metrics),)
        gateway = Gateway(config, settings, store, clock, transport, plugins=plugins)
        gateway.callbacks = Callbacks(settings, store, clock, callback_transport, gateway.owner)
        app.state.gateway = gateway
        app.state.metrics.providers.usage = gateway.usage
        app.state.keys = KeyRing(settings, store)
        app.state.rates = RateLimiter(clock, store)
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()
            store.close()

    app = FastAPI(
        title="videoprovider gateway",
        version=__version__,
        description="Every videoprovider provider behind OpenAI's /v1/videos (docs/gateway.md).",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.include_router(videos_router)
    app.include_router(native_router)
    app.include_router(events_router)
    app.include_router(provider_hooks_router)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.state.metrics = Metrics()
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


class BodyLimit:
    """Refuse (413) a request body over `limit` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        too_big = self._refusal()
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_big.response()(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_big
            return message

        try:
            await self.app(scope, counted, send)
        except ApiError as exc:
            if exc is not too_big:
                raise
            await exc.response()(scope, receive, send)

    def _refusal(self) -> ApiError:
        return ApiError(
            413,
            f"The request body is larger than the {self.limit} bytes this gateway accepts.",
            code="request_too_large",
            retry=False,
        )
