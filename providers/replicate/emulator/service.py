"""The emulated Replicate API: token check, model schemas, predictions, their listing, cancel,
faults, expiry, webhook deliveries (`.webhooks.deliveries`) and the webhook signing secret.

Time comes from a clock object (`monotonic()` and `now()`), so tests drive predictions with a
virtual clock. Replies follow Replicate's shapes: predictions as JSON objects, errors as
problem details (`title`, `detail`, `status`), 201 on create [docs/providers/replicate.md].
"""

from __future__ import annotations

import json
import math
import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from videoprovider.clock import SystemClock
from videoprovider.testing.emulator import EmulatorClock, Recorded, Request, Response, record
from videoprovider.testing.media import sample_mp4

from ..settings import WEBHOOK_EVENTS
from .listing import list_page
from .models import MODELS
from .webhooks import DEFAULT_EVENTS, DEFAULT_SECRET, Deliverer

API = "/v1"
FaultKind = Literal["429", "500", "503", "drop", "drop_after"]
Match = Literal["create", "get", "list", "cancel", "schema", "secret", "any"]
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class Fault:
    """Misbehave on the next `count` requests of kind `match`.

    429/500/503 replace the reply; `drop` closes the connection before doing anything;
    `drop_after` does the work (a create makes its prediction) and then closes unanswered.
    """

    kind: FaultKind
    match: Match = "any"
    count: int = 1
    retry_after: float | None = 1.0


@dataclass
class EmulatorConfig:
    api_tokens: tuple[str, ...] | None = None  # None: any non-empty token is accepted
    prediction_seconds: float = 60.0  # median run time (emulated seconds)
    sigma: float = 0.0  # >0: log-normal durations around the median
    queue_fraction: float = 0.1  # share of a prediction's life spent "starting"
    retention: float = 3600.0  # seconds after completion before data is removed
    seed: int = 0
    fail_marker: str | None = "[[fail]]"  # prompts containing it end "failed"
    webhook_secret: str = DEFAULT_SECRET  # signs deliveries; served at /webhooks/default/secret
    page_size: int = 100  # predictions per page of GET /predictions, as Replicate serves


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created: float
    created_at: datetime
    duration: float
    fail: bool = False
    canceled_at: float | None = None
    webhook: str | None = None
    events: tuple[str, ...] = ()
    sent: set[str] = field(default_factory=set)  # events already queued for delivery

    def status(self, now: float, cfg: EmulatorConfig) -> str:
        if self.canceled_at is not None:
            return "canceled"
        age = now - self.created
        if age < self.duration * cfg.queue_fraction:
            return "starting"
        if age < self.duration:
            return "processing"
        return "failed" if self.fail else "succeeded"

    def ended(self, now: float, cfg: EmulatorConfig) -> float | None:
        if self.canceled_at is not None:
            return self.canceled_at
        return self.created + self.duration if now >= self.created + self.duration else None


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def _problem(status: int, title: str, detail: str, **headers: str) -> Response:
    return _json(status, {"title": title, "detail": detail, "status": status}, headers)


def _stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class ReplicateService:
    """Request handler holding the emulated state. One per emulator."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: EmulatorClock | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: EmulatorClock = clock or SystemClock()
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        self.predictions: dict[str, Prediction] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._rng = random.Random(self.config.seed)
        self._durations = random.Random(self.config.seed)
        # One sender per service: its task may be running on the emulator's loop already.
        self.webhooks: Deliverer = getattr(self, "webhooks", None) or Deliverer(
            self.config.webhook_secret
        )
        self.webhooks.deliveries.clear()

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if _kind(r.method, r.path) == kind]

    def _take_fault(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.match in (kind, "any") and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def handle(self, req: Request) -> Response:
        kind = _kind(req.method, req.path)
        if kind == "file":
            return self._file(req)
        self.requests.append(record(req))
        fault = self._take_fault(kind)
        if fault is not None and fault.kind == "429":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            detail = "Request was throttled. Your rate limit resets in ~30s."
            return _problem(429, "Too Many Requests", detail, **headers)
        if fault is not None and fault.kind in ("500", "503"):
            return _problem(int(fault.kind), "Internal Server Error", "Something went wrong.")
        if fault is not None and fault.kind == "drop":
            return Response(drop=True)
        reply = self._route(req, kind)
        return Response(drop=True) if fault is not None else reply

    def _route(self, req: Request, kind: str) -> Response:
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        allowed = self.config.api_tokens
        if not token or (allowed is not None and token not in allowed):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        parts = req.path.removeprefix(API).strip("/").split("/")
        now = self.clock.monotonic()
        if kind == "schema":
            return self._schema(parts)
        if kind == "secret":
            return _json(200, {"key": self.config.webhook_secret})
        if kind == "create":
            return self._create(req, parts, now)
        if kind == "list":
            status, doc = list_page(
                list(self.predictions.values()),
                req.query,
                self.config.page_size,
                lambda query: f"{self.base_url}{API}/predictions?{urlencode(query)}",
                # The listing's rows are predictions as the get call shows them, without logs.
                lambda p: {k: v for k, v in self._view(p, now).items() if k != "logs"},
            )
            if status != 200:
                title = "Bad request" if status == 400 else "Not found"
                return _problem(status, title, doc["detail"])
            return _json(200, doc)
        if kind in ("get", "cancel"):
            prediction = self.predictions.get(parts[1])
            if prediction is None:
                return _problem(404, "Not found", "The requested resource could not be found.")
            if kind == "cancel" and prediction.status(now, self.config) in (
                "starting",
                "processing",
            ):
                prediction.canceled_at = now
            return _json(200, self._view(prediction, now))
        return _problem(404, "Not found", f"No route for {req.method} {req.path}.")

    def _schema(self, parts: list[str]) -> Response:
        model = MODELS.get(f"{parts[1]}/{parts[2]}") if len(parts) >= 3 else None
        if model is None:
            return _problem(404, "Not found", "Model not found.")
        version = {"id": model["version"], "openapi_schema": model["schema"]}
        if len(parts) == 3:
            return _json(200, {"owner": parts[1], "name": parts[2], "latest_version": version})
        if len(parts) == 5 and parts[4] == model["version"]:
            return _json(200, version)
        return _problem(404, "Not found", "Version not found.")

    def _create(self, req: Request, parts: list[str], now: float) -> Response:
        try:
            body = json.loads(req.body)
            assert isinstance(body, dict) and isinstance(body.get("input"), dict)
        except (ValueError, AssertionError):
            return _problem(400, "Bad request", "The body must be a JSON object with input.")
        if parts[0] == "models":
            name = f"{parts[1]}/{parts[2]}"
            model = MODELS.get(name)
            if model is None or not model["official"]:
                return _problem(404, "Not found", f"{name} is not an official model.")
        else:
            found = [(n, m) for n, m in MODELS.items() if m["version"] == body.get("version")]
            if not found:
                return _problem(422, "Invalid version", "The version does not exist.")
            name, model = found[0]
        refusal = _check_input(body["input"], model["schema"])
        if refusal:
            return _problem(422, "Input validation failed", refusal)
        webhook, events = body.get("webhook"), body.get("webhook_events_filter", DEFAULT_EVENTS)
        if webhook is not None and not (
            isinstance(webhook, str) and webhook.startswith(("https://", "http://"))
        ):
            return _problem(422, "Invalid webhook", "- webhook: must be an http(s) URL")
        if not isinstance(events, (list, tuple)) or not set(events) <= set(WEBHOOK_EVENTS):
            allowed = ", ".join(WEBHOOK_EVENTS)
            return _problem(422, "Invalid webhook_events_filter", f"- must list: {allowed}")
        cfg = self.config
        duration = cfg.prediction_seconds
        if cfg.sigma > 0:
            duration = math.exp(math.log(duration) + cfg.sigma * self._durations.gauss(0, 1))
        prompt = str(body["input"].get("prompt", ""))
        prediction = Prediction(
            id="".join(self._rng.choice(_ALPHABET) for _ in range(26)),
            model=name,
            version=model["version"],
            input=body["input"],
            created=now,
            created_at=self.clock.now(),
            duration=duration,
            fail=bool(cfg.fail_marker and cfg.fail_marker in prompt),
            webhook=webhook,
            events=tuple(events),
        )
        self.predictions[prediction.id] = prediction
        if webhook:
            self.webhooks.start(self._queue_due_deliveries)
        return _json(201, self._view(prediction, now))

    def _queue_due_deliveries(self) -> None:
        now = self.clock.monotonic()
        stamp = int(self.clock.now().timestamp())
        for p in self.predictions.values():
            if not p.webhook:
                continue
            status = p.status(now, self.config)
            # The emulator's models print no outputs along the way and their logs are not
            # pushed, so `output` comes with success and `logs` never does.
            reached = {"start"}
            if status == "succeeded":
                reached.add("output")
            if status in ("succeeded", "failed", "canceled"):
                reached.add("completed")
            for event in WEBHOOK_EVENTS:
                if event in reached and event in p.events and event not in p.sent:
                    p.sent.add(event)
                    body = json.dumps(self._view(p, now)).encode()
                    self.webhooks.queue(p.id, event, p.webhook, body, stamp)

    def _view(self, p: Prediction, now: float) -> dict[str, Any]:
        cfg = self.config
        status = p.status(now, cfg)
        ended = p.ended(now, cfg)
        removed = ended is not None and now - ended >= cfg.retention
        started = p.created + p.duration * cfg.queue_fraction
        view: dict[str, Any] = {
            "id": p.id,
            "model": p.model,
            "version": p.version,
            "input": {} if removed else p.input,
            "logs": ""
            if removed
            else _logs(status, now - started, p.duration - started + p.created),
            "output": None,
            "error": None,
            "status": status,
            "data_removed": removed,
            "created_at": _stamp(p.created_at),
            "started_at": None,
            "completed_at": None,
            "urls": {
                "get": f"{self.base_url}{API}/predictions/{p.id}",
                "cancel": f"{self.base_url}{API}/predictions/{p.id}/cancel",
            },
        }
        if now >= started and status != "starting":
            view["started_at"] = _stamp(p.created_at + timedelta(seconds=started - p.created))
        if ended is not None:
            view["completed_at"] = _stamp(p.created_at + timedelta(seconds=ended - p.created))
        if status == "succeeded" and not removed:
            view["output"] = f"{self.base_url}/files/{p.id}/output.mp4"
            view["metrics"] = {"predict_time": p.duration * (1 - cfg.queue_fraction)}
        if status == "failed":
            view["error"] = "E005: The input or output was flagged as sensitive."
        return view

    def _file(self, req: Request) -> Response:
        pid = req.path.removeprefix("/files/").split("/")[0]
        prediction = self.predictions.get(pid)
        now = self.clock.monotonic()
        ended = prediction.ended(now, self.config) if prediction else None
        if prediction is None or ended is None or now - ended >= self.config.retention:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})


def _logs(status: str, ran: float, run_time: float) -> str:
    if status != "processing" or run_time <= 0:
        return ""
    done = max(0, min(99, int(100 * ran / run_time)))
    bar = "█" * (done // 10)
    return f"Loading pipeline...\n{done:3d}%|{bar:<10}| {done}/100 [00:00<00:00]\n"


def _check_input(given: dict[str, Any], openapi: dict[str, Any]) -> str | None:
    """Replicate's 422 detail for the first input the schema refuses, or None."""
    schemas = openapi["components"]["schemas"]
    spec = schemas["Input"]
    for name in spec["required"]:
        if name not in given:
            return f"- input: {name} is required"
    for name, value in given.items():
        prop = spec["properties"].get(name)
        if prop is None:
            continue  # cog ignores inputs a model does not declare
        ref = (prop.get("allOf") or [{}])[0].get("$ref", "")
        enum = schemas.get(ref.rsplit("/", 1)[-1], {}).get("enum") if ref else None
        if enum is not None and value not in enum:
            allowed = ", ".join(repr(v) for v in enum)
            return f"- input.{name}: {name} must be one of the following: {allowed}"
    return None


def _kind(method: str, path: str) -> str:
    if path.startswith("/files/"):
        return "file"
    parts = path.removeprefix(API).strip("/").split("/")
    if method == "POST" and (
        parts == ["predictions"] or (parts[0] == "models" and parts[-1] == "predictions")
    ):
        return "create"
    if method == "GET" and parts[0] == "models":
        return "schema"
    if method == "GET" and parts == ["predictions"]:
        return "list"
    if method == "GET" and parts == ["webhooks", "default", "secret"]:
        return "secret"
    if parts[0] == "predictions" and len(parts) == 3 and parts[2] == "cancel" and method == "POST":
        return "cancel"
    if parts[0] == "predictions" and len(parts) == 2 and method == "GET":
        return "get"
    return "other"
