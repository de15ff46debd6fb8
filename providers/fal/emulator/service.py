"""The emulated fal queue: key check, per-endpoint schemas, queued requests with positions
and logs, results, real cancel, faults, the JWKS document and signed webhook deliveries.

Time comes from a clock object (`monotonic()`, `now()`), so tests drive requests with a
virtual clock. Replies follow fal's shapes [docs/providers/fal.md]: `{"detail": ...}` errors
(FastAPI's list for validation), `IN_QUEUE`/`IN_PROGRESS`/`COMPLETED`, cancel answering
`OK`, `CANCELLATION_REQUESTED`, `ALREADY_COMPLETED` or `NOT_FOUND`; the status stream
sends the status JSON as server-sent events until COMPLETED.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from videoprovider.clock import SystemClock
from videoprovider.testing.emulator import EmulatorClock, Recorded, Request, Response, record
from videoprovider.testing.media import sample_mp4

from ..inputs import check
from .schemas import openapi
from .webhooks import TICK, Deliverer

SCHEMA_PATH = "/api/openapi/queue/openapi.json"
JWKS_PATH = "/.well-known/jwks.json"
FaultKind = Literal["429", "500", "503", "drop", "drop_after", "cut"]
Match = Literal["submit", "status", "stream", "result", "cancel", "schema", "jwks", "any"]
CANCELED = {"error": "Request was cancelled by the user", "error_type": "request_cancelled"}


@dataclass
class Fault:
    """Misbehave on the next `count` requests of kind `match` (`drop_after`: do the work,
    then close the connection unanswered; `cut`: a status stream sends its first event,
    then the connection breaks when the next one is due)."""

    kind: FaultKind
    match: Match = "any"
    count: int = 1
    retry_after: float | None = 1.0


@dataclass
class EmulatorConfig:
    api_keys: tuple[str, ...] | None = None  # None: any non-empty key is accepted
    queue_seconds: float = 10.0  # time in the queue before a runner takes a request
    run_seconds: float = 50.0  # time on the runner
    fail_marker: str | None = "[[fail]]"  # prompts containing it fail on the runner
    # Where reply URLs (status_url, response_url, cancel_url) point; None: this emulator.
    # Another host tests that the client never sends the key there.
    reply_base_url: str | None = None


@dataclass
class QueuedRequest:
    id: str
    endpoint: str
    app: str
    input: dict[str, Any]
    created: float
    fail: bool = False
    canceled_at: float | None = None
    webhook: str | None = None
    delivered: bool = False

    def state(self, now: float, cfg: EmulatorConfig) -> str:
        if self.canceled_at is not None:
            return "COMPLETED"
        age = now - self.created
        if age < cfg.queue_seconds:
            return "IN_QUEUE"
        return "IN_PROGRESS" if age < cfg.queue_seconds + cfg.run_seconds else "COMPLETED"


def _json(status: int, doc: Any, **headers: str) -> Response:
    return Response(
        status, json.dumps(doc).encode(), {"Content-Type": "application/json", **headers}
    )


def _detail(status: int, detail: Any, **headers: str) -> Response:
    return _json(status, {"detail": detail}, **headers)


class FalService:
    """Request handler holding the emulated state; one per emulator."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: EmulatorClock | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: EmulatorClock = clock or SystemClock()
        self.base_url = ""
        self.queue: dict[str, QueuedRequest] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.webhooks = Deliverer()

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
        recorded = record(req)
        if "authorization" in req.headers:
            key = req.headers["authorization"].removeprefix("Key ").strip()
            recorded.headers["authorization"] = f"Key …{key[-4:] if len(key) > 8 else ''}"
        self.requests.append(recorded)
        if kind == "file":
            return self._file(req)
        fault = self._take_fault(kind)
        if fault is not None and fault.kind == "429":
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return _detail(429, "Rate limit exceeded: too many concurrent requests.", **extra)
        if fault is not None and fault.kind in ("500", "503"):
            return _detail(int(fault.kind), "Internal Server Error")
        if fault is not None and fault.kind == "drop":
            return Response(drop=True)
        if kind == "stream":
            return self._route(req, kind, cut=fault is not None and fault.kind == "cut")
        reply = self._route(req, kind)
        return Response(drop=True) if fault is not None else reply

    def _route(self, req: Request, kind: str, *, cut: bool = False) -> Response:
        if kind == "schema":
            doc = openapi(req.query.get("endpoint_id", ""))
            return _json(200, doc) if doc else _detail(404, "Endpoint not found")
        if kind == "jwks":
            return _json(200, self.webhooks.jwks())
        auth = req.headers.get("authorization", "")
        key = auth.removeprefix("Key ").strip() if auth.startswith("Key ") else ""
        allowed = self.config.api_keys
        if not key or (allowed is not None and key not in allowed):
            return _detail(401, "Authentication is required to access this application.")
        now = self.clock.monotonic()
        if kind == "submit":
            return self._submit(req, now)
        parts = req.path.strip("/").split("/")
        at = parts.index("requests")
        app, request_id = "/".join(parts[:at]), parts[at + 1]
        found = self.queue.get(request_id)
        if found is None or found.app != app:
            if kind == "cancel":
                return _json(404, {"status": "NOT_FOUND"})
            return _detail(404, f"Request {request_id} not found")
        logs = req.query.get("logs") in ("1", "true")
        if kind == "status":
            return _json(200, self._status_view(found, now, logs))
        if kind == "stream":
            headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            return Response(200, headers=headers, stream=self._events(found, logs, cut))
        if kind == "result":
            return self._result(found, now)
        return self._cancel(found, now)

    def _urls(self, p: QueuedRequest) -> dict[str, str]:
        base = f"{self.config.reply_base_url or self.base_url}/{p.app}/requests/{p.id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    def _submit(self, req: Request, now: float) -> Response:
        endpoint = req.path.strip("/")
        doc = openapi(endpoint)
        if doc is None:
            return _detail(404, f"Application '{endpoint}' not found")
        try:
            given = json.loads(req.body or b"{}")
            assert isinstance(given, dict)
        except (ValueError, AssertionError):
            return _detail(422, [{"loc": ["body"], "msg": "must be an object", "type": "type"}])
        schema = next(iter(doc["components"]["schemas"].values()))
        problem = _validate(given, schema)
        if problem:
            return _detail(422, [problem])
        parts = endpoint.split("/")
        p = QueuedRequest(
            id=str(uuid.UUID(int=len(self.queue) + 1, version=4)),
            endpoint=endpoint,
            app="/".join(parts[:2]),
            input=given,
            created=now,
            fail=bool(self.config.fail_marker and self.config.fail_marker in given["prompt"]),
            webhook=req.query.get("fal_webhook"),
        )
        self.queue[p.id] = p
        if p.webhook:
            self.webhooks.start(self._due_deliveries)
        return _json(200, {"request_id": p.id, "gateway_request_id": p.id, **self._urls(p)})

    def _position(self, p: QueuedRequest, now: float) -> int:
        earlier = list(self.queue)[: list(self.queue).index(p.id)]
        return sum(1 for i in earlier if self.queue[i].state(now, self.config) == "IN_QUEUE")

    def _status_view(self, p: QueuedRequest, now: float, logs: bool) -> dict[str, Any]:
        state = p.state(now, self.config)
        view: dict[str, Any] = {"status": state, "request_id": p.id, **self._urls(p)}
        if state == "IN_QUEUE":
            view["queue_position"] = self._position(p, now)
        if state == "IN_PROGRESS" and logs:
            ran = now - p.created - self.config.queue_seconds
            view["logs"] = [
                {"message": "Loading model", "level": "INFO", "timestamp": "2026-01-01T00:00:00Z"},
                {"message": f"Generating: {ran:.0f}s", "level": "INFO", "timestamp": ""},
            ]
        if state == "COMPLETED":
            view["logs"] = [] if logs else None
            view["metrics"] = {"inference_time": self.config.run_seconds}
            if p.canceled_at is not None:
                view.update(CANCELED)
            elif p.fail:
                view.update(error="Content policy violation", error_type="content_policy")
        return view

    async def _events(self, p: QueuedRequest, logs: bool, cut: bool) -> AsyncIterator[bytes]:
        """The status stream [status-stream]: an event whenever the status (position, logs)
        changes, the same JSON as a status reply; closed after the COMPLETED one."""
        yield b": connected\n\n"  # a comment, as fal's keep-alives are: readers skip it
        last = ""
        while True:
            view = self._status_view(p, self.clock.monotonic(), logs)
            said = json.dumps(view)
            if said != last:
                if cut and last:
                    raise ConnectionResetError("the emulator cuts this stream (a fault)")
                yield f"data: {said}\n\n".encode()
                last = said
                if view["status"] == "COMPLETED":
                    return
            await asyncio.sleep(TICK)  # real time: the emulator's clock may be a test's

    def _outcome(self, p: QueuedRequest) -> tuple[int, dict[str, Any]]:
        if p.canceled_at is not None:
            return 400, {"detail": CANCELED["error"], **CANCELED}
        if p.fail:
            detail = [
                {
                    "loc": ["body", "prompt"],
                    "msg": "The content could not be processed: it was flagged.",
                    "type": "content_policy_violation",
                }
            ]
            return 422, {"detail": detail}
        url = f"{self.base_url}/files/{p.id}.mp4"
        return 200, {"video": {"url": url, "content_type": "video/mp4"}, "seed": 42}

    def _result(self, p: QueuedRequest, now: float) -> Response:
        if p.state(now, self.config) != "COMPLETED":
            return _detail(400, "Request is still in progress")
        status, doc = self._outcome(p)
        return _json(status, doc)

    def _cancel(self, p: QueuedRequest, now: float) -> Response:
        state = p.state(now, self.config)
        if state == "COMPLETED":
            return _json(400, {"status": "ALREADY_COMPLETED"})
        p.canceled_at = now
        if state == "IN_QUEUE":
            return _json(200, {"status": "OK"})  # removed from the queue
        # On the runner: the signal is sent, and the emulated app stops at once.
        return _json(202, {"status": "CANCELLATION_REQUESTED"})

    def _due_deliveries(self) -> None:
        now = self.clock.monotonic()
        stamp = int(self.clock.now().timestamp())
        for p in self.queue.values():
            if not p.webhook or p.delivered or p.state(now, self.config) != "COMPLETED":
                continue
            p.delivered = True
            status, doc = self._outcome(p)
            body: dict[str, Any] = {"request_id": p.id, "gateway_request_id": p.id}
            if status == 200:
                body.update(status="OK", payload=doc)
            else:
                body.update(status="ERROR", error=f"Invalid status code: {status}", payload=doc)
            self.webhooks.queue(p.id, p.webhook, json.dumps(body).encode(), stamp)

    def _file(self, req: Request) -> Response:
        rid = req.path.removeprefix("/files/").removesuffix(".mp4")
        p = self.queue.get(rid)
        if p is None or p.state(self.clock.monotonic(), self.config) != "COMPLETED" or p.fail:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})


def _validate(given: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """FastAPI's validation item for the first input the schema refuses, or None."""
    for name in schema["required"]:
        if name not in given:
            return {"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}
    for name, value in given.items():
        spec = schema["properties"].get(name)
        if spec is None:
            continue  # pydantic models on fal ignore extra fields
        try:
            if check(spec, value, name, "emulator") != value:
                raise ValueError
        except Exception as exc:
            return {"loc": ["body", name], "msg": str(exc), "type": "value_error"}
    return None


def _kind(method: str, path: str) -> str:
    if path.startswith("/files/"):
        return "file"
    if path == SCHEMA_PATH:
        return "schema"
    if path == JWKS_PATH:
        return "jwks"
    parts = path.strip("/").split("/")
    if "requests" in parts:
        tail = parts[parts.index("requests") + 1 :]
        if method == "GET" and len(tail) == 2 and tail[1] == "status":
            return "status"
        if method == "GET" and tail[1:] == ["status", "stream"]:
            return "stream"
        if method == "GET" and len(tail) == 1:
            return "result"
        if method == "PUT" and len(tail) == 2 and tail[1] == "cancel":
            return "cancel"
        return "other"
    return "submit" if method == "POST" else "other"
