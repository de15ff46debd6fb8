"""Prometheus metrics at `/metrics`: requests and their latency by route, videos by provider
and status, and what the providers were sent (requests by kind, throttles, the request
budget), read from the library's own counters at each scrape (core/usage.py). Labels hold
only bounded values (route templates, provider names, request kinds; never ids or keys)."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..hookspecs import hookimpl
from ..models import Task, TaskStatus
from ..usage import ProviderUsage

__all__ = ["Metrics", "ProviderMetrics", "RequestMetrics", "TaskMetrics", "router"]

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
        self.providers = ProviderMetrics()
        self.registry.register(self.providers)


class ProviderMetrics:
    """What the gateway's clients sent their providers, read from the library's counters at
    each scrape: `usage` is the gateway's (set when it starts), nothing before."""

    def __init__(self) -> None:
        self.usage: Callable[[], list[ProviderUsage]] = list

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(self.usage()))

    def _families(self, used: Sequence[ProviderUsage] = ()) -> list[Metric]:
        requests = CounterMetricFamily(
            "videoprovider_provider_requests",
            "HTTP requests sent to a provider's API, by provider and kind (the operation "
            "they were for: submit, status, url, cancel, list, recover, webhook); retries count.",
            labels=["provider", "kind"],
        )
        throttled = CounterMetricFamily(
            "videoprovider_provider_throttled",
            "Provider replies that throttled a request (HTTP 429), by provider.",
            labels=["provider"],
        )
        in_use = GaugeMetricFamily(
            "videoprovider_budget_in_use",
            "Status requests counted against the provider's request budget now (in flight, "
            "or returned within the last second).",
            labels=["provider"],
        )
        budget = GaugeMetricFamily(
            "videoprovider_budget_per_second",
            "The provider account's request budget, status requests per second (absent: none).",
            labels=["provider"],
        )
        sent: Tally[tuple[str, str]] = Tally()
        refused: Tally[str] = Tally()
        busy: Tally[str] = Tally()
        rates: dict[str, float] = {}
        # A client may have met another provider (a task routed to it): sum by provider.
        for one in used:
            for kind, count in one.requests.items():
                sent[one.provider, kind] += count
            refused[one.provider] += one.throttled
            busy[one.provider] += one.in_use
            if one.budget is not None:
                rates[one.provider] = max(rates.get(one.provider, 0.0), one.budget)
        for (provider, kind), count in sorted(sent.items()):
            requests.add_metric([provider, kind], count)
        for provider, count in sorted(refused.items()):
            throttled.add_metric([provider], count)
        for provider, count in sorted(busy.items()):
            in_use.add_metric([provider], count)
        for provider, rate in sorted(rates.items()):
            budget.add_metric([provider], rate)
        return [requests, throttled, in_use, budget]


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
