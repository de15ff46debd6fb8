"""Prometheus metrics at `/metrics`: requests and their latency by route, videos by provider
and status. Labels hold only bounded values (route templates, never ids or keys)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..hookspecs import hookimpl
from ..models import Task, TaskStatus

__all__ = ["Metrics", "RequestMetrics", "TaskMetrics", "router"]

router = APIRouter()


class Metrics:
    """One registry per app, so several apps in one process do not share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "videoprovider_gateway_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "videoprovider_gateway_request_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            registry=self.registry,
        )
        self.videos = Gauge(
            "videoprovider_gateway_videos",
            "Videos in the gateway's store, by provider and status.",
            ["provider", "status"],
            registry=self.registry,
        )
        self.tasks = Counter(
            "videoprovider_tasks_total",
            "Provider tasks submitted and ended, by provider and state.",
            ["provider", "state"],
            registry=self.registry,
        )
        self.spend = Counter(
            "videoprovider_gateway_spend_total",
            "What ended tasks cost (actual where reported, else estimated), by currency.",
            ["provider", "currency"],
            registry=self.registry,
        )
        self.callbacks = Gauge(
            "videoprovider_gateway_callbacks",
            "Callback deliveries in the gateway's store, by state.",
            ["state"],
            registry=self.registry,
        )


class TaskMetrics:
    """A host plugin on every client of the gateway: counts tasks as the library sees them."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    @hookimpl
    def videoprovider_task_submitted(self, task: Task) -> None:
        self.metrics.tasks.labels(task.provider, "submitted").inc()

    @hookimpl
    def videoprovider_task_finished(self, task: Task, status: TaskStatus, path: str | None) -> None:
        self.metrics.tasks.labels(task.provider, status.state.value.lower()).inc()
        cost = status.cost
        if cost is not None and cost.amount is not None and cost.currency:
            self.metrics.spend.labels(task.provider, cost.currency).inc(float(cost.amount))


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(scope["method"], name).observe(
                time.perf_counter() - started
            )
            self.metrics.requests.labels(scope["method"], name, str(status[0])).inc()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    found: Metrics = request.app.state.metrics
    found.videos.clear()
    for provider, status, count in request.app.state.gateway.store.counts():
        found.videos.labels(provider, status).set(count)
    found.callbacks.clear()
    for state, count in request.app.state.gateway.store.callback_counts().items():
        found.callbacks.labels(state).set(count)
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
