"""The emulated Kling API: token checks, creates per task kind, queries by task id or by
external_task_id, the error codes, injected faults, callbacks and the result videos.

Replies follow Kling's envelope `{"code", "message", "request_id", "data"}` with the HTTP
status of the error-code table [common-info]; tasks run submitted → processing → succeed on
the emulator's clock, each kind for its own time (`EmulatorConfig.seconds`).
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from videoprovider.clock import SystemClock
from videoprovider.testing.emulator import EmulatorClock, Recorded, Request, Response, record
from videoprovider.testing.media import sample_mp4

from ..catalog import KINDS, MODELS, Kind
from .callbacks import Callbacks
from .tokens import check_token

PATHS = {path: kind for kind, path in KINDS.items()}
Match = Literal["create", "query", "any"]
# HTTP status of each service code [common-info].
HTTP_OF = {
    1000: 401, 1001: 401, 1002: 401, 1003: 401, 1004: 401,
    1100: 429, 1101: 429, 1102: 429, 1103: 403,
    1200: 400, 1201: 400, 1202: 404, 1203: 404,
    1300: 400, 1301: 400, 1302: 429, 1303: 429, 1304: 429,
    5000: 500, 5001: 503, 5002: 504,
}  # fmt: skip
REFUSED = "Failure to pass the risk control system"
TEST_ACCESS_KEY = "ak-test-emulator"
TEST_SECRET_KEY = "sk-test-emulator-secret-0123456789abcdef"
TEST_API_KEY = "sk-test-emulator-api-key-0123456789abcdef"


@dataclass
class Fault:
    """Misbehave on the next `count` requests of kind `match`: answer error `code`, or
    `drop` (close unanswered, doing nothing) or `drop_after` (do the work, then close)."""

    code: int | Literal["drop", "drop_after"]
    match: Match = "any"
    count: int = 1


@dataclass
class EmulatorConfig:
    keys: dict[str, str] = field(default_factory=lambda: {TEST_ACCESS_KEY: TEST_SECRET_KEY})
    api_keys: tuple[str, ...] = (TEST_API_KEY,)
    seconds: dict[str, float] = field(
        default_factory=lambda: {"t2v": 60.0, "i2v": 90.0, "mi2v": 120.0}
    )
    queue_fraction: float = 0.1  # share of a task's life spent "submitted"
    fail_marker: str | None = "[[fail]]"  # prompts containing it end "failed"


@dataclass
class EmuTask:
    id: str
    kind: Kind
    body: dict[str, Any]
    created: float
    created_ms: int
    duration: float
    fail: bool
    external_id: str | None
    callback_url: str | None
    announced: set[str] = field(default_factory=set)

    def status(self, now: float, queue: float) -> str:
        age = now - self.created
        if age < self.duration * queue:
            return "submitted"
        if age < self.duration:
            return "processing"
        return "failed" if self.fail else "succeed"


def _reply(code: int, message: str, data: Any = None) -> Response:
    doc = {"code": code, "message": message, "request_id": str(uuid.uuid4()), "data": data}
    status = 200 if code == 0 else HTTP_OF.get(code, 400)
    headers = {"Content-Type": "application/json"}
    return Response(status, json.dumps(doc).encode(), headers)


class KlingService:
    """Request handler holding the emulated state. One per emulator."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: EmulatorClock | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: EmulatorClock = clock or SystemClock()
        self.base_url = ""
        self.tasks: dict[str, EmuTask] = {}
        self.by_external: dict[str, str] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.callbacks = Callbacks()
        self._ids = itertools.count(867283741759111202)

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def requests_of(self, kind: Match) -> list[Recorded]:
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
        if req.path.startswith("/files/"):
            return self._file(req)
        kind = _kind(req.method, req.path)
        self.requests.append(record(req))
        fault = self._take_fault(kind)
        if fault is not None and fault.code == "drop":
            return Response(drop=True)
        if fault is not None and isinstance(fault.code, int):
            return _reply(fault.code, f"injected error {fault.code}")
        refused = check_token(
            req.headers.get("authorization", ""),
            self.config.keys,
            self.clock.now().timestamp(),
            self.config.api_keys,
        )
        if refused is not None:
            return _reply(*refused)
        parts = req.path.strip("/").split("/")
        if kind == "create":
            reply = self._create(req, PATHS[parts[2]])
        elif kind == "query":
            reply = self._query(PATHS[parts[2]], parts[3])
        else:
            reply = _reply(1202, f"No route for {req.method} {req.path}")
        return Response(drop=True) if fault is not None else reply

    def _create(self, req: Request, kind: Kind) -> Response:
        try:
            body = json.loads(req.body)
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            return _reply(1200, "Invalid request: the body must be a JSON object")
        name = body.get("model_name", "kling-v1")
        model = MODELS.get(name)
        if model is None or kind not in model.kinds:
            return _reply(1201, f"model_name {name!r} is not valid for {kind.path}")
        refusal = _check(body, kind, model)
        if refusal:
            return _reply(1201, refusal)
        external = body.get("external_task_id")
        if external is not None and external in self.by_external:
            return _reply(1201, "external_task_id already exists")
        now, marker = self.clock.monotonic(), self.config.fail_marker
        task = EmuTask(
            id=str(next(self._ids)),
            kind=kind,
            body=body,
            created=now,
            created_ms=int(self.clock.now().timestamp() * 1000),
            duration=self.config.seconds[kind.value],
            fail=bool(marker and marker in str(body.get("prompt", ""))),
            external_id=external,
            callback_url=body.get("callback_url"),
        )
        self.tasks[task.id] = task
        if external is not None:
            self.by_external[external] = task.id
        if task.callback_url:
            self.callbacks.start(self._due_callbacks)
        view = self._view(task, now)
        keys = ("task_id", "task_status", "task_info", "created_at", "updated_at")
        return _reply(0, "SUCCEED", {k: view[k] for k in keys})

    def _query(self, kind: Kind, key: str) -> Response:
        task = self.tasks.get(key) or self.tasks.get(self.by_external.get(key, ""))
        if task is None or task.kind is not kind:
            return _reply(1203, "task not found")
        return _reply(0, "SUCCEED", self._view(task, self.clock.monotonic()))

    def _view(self, task: EmuTask, now: float) -> dict[str, Any]:
        state = task.status(now, self.config.queue_fraction)
        stage_ends = {
            "submitted": task.created,
            "processing": task.created + task.duration * self.config.queue_fraction,
        }
        updated = stage_ends.get(state, task.created + task.duration)
        view: dict[str, Any] = {
            "task_id": task.id,
            "task_status": state,
            "task_status_msg": REFUSED if state == "failed" else "",
            "task_info": {"external_task_id": task.external_id} if task.external_id else {},
            "created_at": task.created_ms,
            "updated_at": task.created_ms + int((updated - task.created) * 1000),
        }
        if state == "succeed":
            view["task_result"] = {
                "videos": [
                    {
                        "id": f"v{task.id}",
                        "url": f"{self.base_url}/files/{task.id}.mp4",
                        "duration": str(task.body.get("duration", "5")),
                    }
                ]
            }
            view["final_unit_deduction"] = "1"
        return view

    def _due_callbacks(self) -> None:
        now = self.clock.monotonic()
        for task in self.tasks.values():
            state = task.status(now, self.config.queue_fraction)
            if task.callback_url and state not in task.announced:
                task.announced.add(state)
                self.callbacks.queue(task.id, state, task.callback_url, self._view(task, now))

    def _file(self, req: Request) -> Response:
        task = self.tasks.get(req.path.removeprefix("/files/").removesuffix(".mp4"))
        now = self.clock.monotonic()
        if task is None or task.status(now, self.config.queue_fraction) != "succeed":
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})


def _check(body: dict[str, Any], kind: Kind, model: Any) -> str | None:
    if kind is Kind.TEXT and not body.get("prompt"):
        return "prompt is required"
    if kind is Kind.IMAGE and not body.get("image"):
        return "image is required"
    if kind is Kind.MULTI_IMAGE and not body.get("image_list"):
        return "image_list is required"
    if "mode" in body and body["mode"] not in model.modes:
        return f"mode {body['mode']!r} is not supported by {model.name}"
    if "duration" in body and str(body["duration"]) not in {str(d) for d in model.durations}:
        return f"duration {body['duration']!r} is not supported by {model.name}"
    if "cfg_scale" in body and not model.cfg_scale:
        return f"cfg_scale is not supported by {model.name}"
    return None


def _kind(method: str, path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[:2] == ["v1", "videos"] and parts[2] in PATHS:
        if method == "POST" and len(parts) == 3:
            return "create"
        if method == "GET" and len(parts) == 4:
            return "query"
    return "other"
