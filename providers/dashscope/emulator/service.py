"""The emulated DashScope service: auth, submit, task lifecycle, cancel, list, limits, faults.

Time comes from a clock object (`monotonic()` and `now()`), so tests drive task lifecycles
with a virtual clock; `time_scale` compresses real time for demos and benchmarks.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import time
import uuid
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from videoprovider.clock import SystemClock
from videoprovider.testing.emulator import EmulatorClock, Recorded, Request, Response, record
from videoprovider.testing.media import sample_mp4

from .events import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, TOKEN_HEADER, EventSender, event_body
from .uploads import UploadStore
from .usage import billed_usage
from .validation import check_wire_body

API = "/api/v1"
SUBMIT_PATHS = (
    f"{API}/services/aigc/video-generation/video-synthesis",
    f"{API}/services/aigc/image2video/video-synthesis",
)
SERVER_TZ = timezone(timedelta(hours=8))  # the service reports China Standard Time
FaultKind = Literal[
    "429",
    "500",
    "503",
    "drop",
    "drop_after",
    "slow",
    "malformed",
    "html",
    "huge",
    "content_failure",
    "200_error",
]
Match = Literal["submit", "status", "cancel", "list", "video", "any"]


@dataclass
class Fault:
    """Misbehave on the next `count` requests of kind `match`.

    429/500/503/html/malformed replace the reply, and `huge` replaces it with 5 MiB of JSON
    (over any sane client's limit for an API reply); `drop` closes the connection before doing
    anything; `drop_after` does the work (a submit creates its task) and then closes without
    replying; `slow` delays the real reply by `delay` seconds; `content_failure` makes the
    submitted task end FAILED with DataInspectionFailed; `200_error` answers HTTP 200 with
    the business `code` and no output, as the gateway can [protocol notes §7].
    """

    kind: FaultKind
    match: Match = "any"
    count: int = 1
    retry_after: float | None = 1.0
    delay: float = 0.0
    code: str = "InvalidParameter"


@dataclass
class EmulatorConfig:
    api_keys: tuple[str, ...] | None = None  # None: any non-empty key is accepted
    task_seconds: float = 90.0  # median duration of a task (emulated seconds)
    sigma: float = 0.0  # >0: log-normal durations around the median
    queue_fraction: float = 0.1  # share of a task's life spent PENDING
    time_scale: float = 1.0  # >1 compresses: emulated seconds per real second
    retention: float = 24 * 3600.0  # seconds a task can be queried, then UNKNOWN
    qps_limit: float | None = 20.0  # task queries per second per key [DOC manage-async]
    record: bool = True
    seed: int = 0
    fail_marker: str | None = "[[fail]]"  # prompts containing it end DataInspectionFailed
    list_lag: float = 0.0  # emulated seconds a finished task still lists as RUNNING
    # Completion events (events.py): POSTed to `events_url` `events_delay` emulated seconds
    # after each task ends, with `events_token` in `events_header` (None: no token).
    events_url: str | None = None
    events_token: str | None = DEFAULT_TOKEN
    events_header: str = TOKEN_HEADER
    events_delay: float = 0.0
    events_twice: bool = False  # every event delivered twice, as EventBridge may
    events_drop: float = 0.0  # share of events lost (0-1), to exercise safety-net polls
    events_account_id: str = DEFAULT_ACCOUNT_ID


@dataclass
class EmuTask:
    task_id: str
    model: str
    key: str
    prompt: str
    submitted: float  # clock.monotonic() at submit
    submitted_at: datetime
    duration: float
    fail: bool = False
    canceled: bool = False
    usage: dict[str, Any] = field(default_factory=dict)

    def phase(self, now: float, cfg: EmulatorConfig) -> str:
        age = (now - self.submitted) * cfg.time_scale
        if self.canceled:
            return "CANCELED"
        if age < self.duration * cfg.queue_fraction:
            return "PENDING"
        if age < self.duration:
            return "RUNNING"
        return "FAILED" if self.fail else "SUCCEEDED"

    def done_monotonic(self, cfg: EmulatorConfig) -> float:
        return self.submitted + self.duration / cfg.time_scale


@dataclass
class Stats:
    counts: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    per_second: Counter[int] = field(default_factory=Counter)
    # Status requests in the busiest sliding one-second window (real time): the figure to
    # compare with a task-query limit, which submits do not count against.
    status_peak: int = 0
    _status_window: deque[float] = field(default_factory=deque)

    def saw_status(self, at: float) -> None:
        window = self._status_window
        while window and at - window[0] >= 1.0:
            window.popleft()
        window.append(at)
        self.status_peak = max(self.status_peak, len(window))

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "throttled": self.throttled,
            "total": sum(self.counts.values()),
            "peak_rps": max(self.per_second.values(), default=0),
            "peak_status_per_second": self.status_peak,
        }


def _fmt(when: datetime) -> str:
    return when.astimezone(SERVER_TZ).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


class DashScopeService:
    """Request handler holding the emulated state. One per emulator."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: EmulatorClock | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: EmulatorClock = clock or SystemClock()
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        self.tasks: dict[str, EmuTask] = {}
        self._in_order: list[EmuTask] = []  # by submit time, for the listing's windows
        self._submit_times: list[datetime] = []
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.stats = Stats()
        self.uploads = UploadStore()
        self._rng = random.Random(self.config.seed)
        # Durations get their own generator, so a seed gives the same durations however
        # many other requests (and their request ids) come in between.
        self._durations = random.Random(self.config.seed)
        self._windows: dict[str, deque[float]] = {}
        cfg = self.config
        # One sender per service: its task may be running on the emulator's loop already.
        self.events: EventSender | None = getattr(self, "events", None)
        if self.events is None and cfg.events_url:
            self.events = EventSender(
                cfg.events_url,
                token=cfg.events_token,
                header=cfg.events_header,
                twice=cfg.events_twice,
                drop=cfg.events_drop,
                seed=cfg.seed,
            )
        if self.events is not None:
            self.events.clear()
        self._ending: list[tuple[float, str]] = []  # (when its event is due, task id)

    # -- control --------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def _take_fault(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.match in (kind, "any") and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if _kind(r.method, r.path) == kind]

    def done_times(self) -> dict[str, float]:
        """Each task's end, on this emulator's monotonic clock (for detection-lag studies)."""
        return {t.task_id: t.done_monotonic(self.config) for t in self.tasks.values()}

    def task_times(self) -> dict[str, dict[str, float]]:
        """Each task's end (monotonic clock) and emulated duration (seconds)."""
        return {
            t.task_id: {"done": t.done_monotonic(self.config), "duration": t.duration}
            for t in self.tasks.values()
        }

    # -- dispatch -------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        if req.path.startswith("/_emulator/"):
            return self._admin(req)
        kind = _kind(req.method, req.path)
        now = self.clock.monotonic()
        self.stats.counts[kind] += 1
        self.stats.per_second[int(time.monotonic())] += 1
        if kind in ("status", "list"):  # both are task queries, under one limit
            self.stats.saw_status(time.monotonic())
        if self.config.record:
            self.requests.append(record(req, key_tail=4))
        fault = self._take_fault(kind)
        if fault is not None and fault.kind != "drop_after":
            faulty = self._fault_reply(fault)
            if faulty is not None:
                return faulty
        reply = self._route(req, kind, now, fault)
        if fault is not None and fault.kind == "drop_after":
            return Response(drop=True)
        if fault is not None and fault.kind == "slow":
            reply.delay = fault.delay
        return reply

    def _fault_reply(self, fault: Fault) -> Response | None:
        rid = str(uuid.UUID(int=self._rng.getrandbits(128)))
        if fault.kind == "429":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self.stats.throttled += 1
            return _json(
                429,
                {
                    "request_id": rid,
                    "code": "Throttling.RateQuota",
                    "message": "Requests rate limit exceeded, please try again later.",
                },
                headers,
            )
        if fault.kind in ("500", "503"):
            code = "InternalError" if fault.kind == "500" else "ServiceUnavailable"
            return _json(
                int(fault.kind),
                {"request_id": rid, "code": code, "message": "An internal error has occured."},
            )
        if fault.kind == "200_error":
            return _json(200, {"request_id": rid, "code": fault.code, "message": "Refused."})
        if fault.kind == "drop":
            return Response(drop=True)
        if fault.kind == "malformed":
            return Response(
                200, b'{"request_id": "x", "output": {', {"Content-Type": "application/json"}
            )
        if fault.kind == "html":
            return Response(
                502,
                b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                {"Content-Type": "text/html"},
            )
        if fault.kind == "huge":
            filler = b"a" * (5 * 1024 * 1024)
            return Response(
                200, b'{"output": {"pad": "' + filler + b'"}}', {"Content-Type": "application/json"}
            )
        return None  # slow and content_failure act inside the normal reply

    def _route(self, req: Request, kind: str, now: float, fault: Fault | None) -> Response:
        if kind == "video":
            return self._video(req)
        if kind == "oss":
            status, why = self.uploads.receive(req)
            return Response(status, why.encode(), {"Content-Type": "text/plain"})
        key_error = self._auth(req)
        if key_error is not None:
            return key_error
        key = req.headers["authorization"].removeprefix("Bearer ").strip()
        if kind == "submit":
            return self._submit(req, key, now, fault)
        if kind == "status":
            return self._status(req, key, now)
        if kind == "cancel":
            return self._cancel(req, now)
        if kind == "list":
            return self._list(req, key, now)
        if kind == "upload_policy" and req.query.get("action") == "getPolicy":
            model = req.query.get("model", "")
            policy = self.uploads.policy(model, self.base_url)
            return _json(200, {"request_id": self._rid(), "data": policy})
        return _json(
            404,
            {
                "request_id": self._rid(),
                "code": "NotFound",
                "message": f"No route for {req.method} {req.path}.",
            },
        )

    def _check_oss(self, req: Request, body: Any) -> tuple[int, str, str] | None:
        """oss:// inputs resolve only with the opt-in header, and only for their model."""
        urls = [u for u in _strings(body.get("input")) if u.startswith("oss://")]
        if not urls:
            return None
        if req.headers.get("x-dashscope-ossresourceresolve", "").lower() != "enable":
            return 400, "InvalidParameter", "oss:// inputs need X-DashScope-OssResourceResolve."
        for url in urls:
            why = self.uploads.resolve(url, str(body.get("model")))
            if why is not None:
                return 400, "InvalidParameter.DataInspection", why
        return None

    def _rid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128)))

    def _auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        allowed = self.config.api_keys
        if not key or (allowed is not None and key not in allowed):
            return _json(
                401,
                {
                    "request_id": self._rid(),
                    "code": "InvalidApiKey",
                    "message": "Invalid API-key provided.",
                },
            )
        return None

    def _submit(self, req: Request, key: str, now: float, fault: Fault | None) -> Response:
        if req.headers.get("x-dashscope-async", "").lower() != "enable":
            # [protocol notes §4, uncertain] the reply when the async header is missing.
            return _json(
                403,
                {
                    "request_id": self._rid(),
                    "code": "AccessDenied",
                    "message": "current user api does not support synchronous calls",
                },
            )
        try:
            body = json.loads(req.body)
        except ValueError:
            return _json(
                400,
                {
                    "request_id": self._rid(),
                    "code": "InvalidParameter",
                    "message": "The request body is not valid JSON.",
                },
            )
        refused = check_wire_body(req.path, body) or self._check_oss(req, body)
        if refused is not None:
            status, code, message = refused
            return _json(status, {"request_id": self._rid(), "code": code, "message": message})
        cfg = self.config
        duration = cfg.task_seconds
        if cfg.sigma > 0:
            duration = math.exp(
                math.log(cfg.task_seconds) + cfg.sigma * self._durations.gauss(0, 1)
            )
        prompt = str(body["input"].get("prompt", ""))
        fail = (fault is not None and fault.kind == "content_failure") or bool(
            cfg.fail_marker and cfg.fail_marker in prompt
        )
        task = EmuTask(
            task_id=self._rid(),
            model=body["model"],
            key=key,
            prompt=prompt,
            submitted=now,
            submitted_at=self.clock.now(),
            duration=duration,
            fail=fail,
            usage=billed_usage(body),
        )
        self.tasks[task.task_id] = task
        self._in_order.append(task)
        self._submit_times.append(task.submitted_at)
        if self.events is not None:
            due = task.done_monotonic(cfg) + cfg.events_delay / cfg.time_scale
            heapq.heappush(self._ending, (due, task.task_id))
            self.events.start(self._queue_due_events)
        return _json(
            200,
            {
                "request_id": self._rid(),
                "output": {"task_id": task.task_id, "task_status": "PENDING"},
            },
        )

    def _queue_due_events(self) -> None:
        assert self.events is not None
        cfg = self.config
        now = self.clock.monotonic()
        while self._ending and self._ending[0][0] <= now:
            _, task_id = heapq.heappop(self._ending)
            task = self.tasks.get(task_id)
            if task is None or task.canceled:
                continue
            start = task.duration * cfg.queue_fraction / cfg.time_scale
            # Event ids come from uuid4, not the seeded generator: events are queued as the
            # clock moves, and must not shift the task ids a seed reproduces.
            event_id, body = event_body(
                task_id,
                "FAILED" if task.fail else "SUCCEEDED",
                task.submitted_at + timedelta(seconds=start),
                task.submitted_at + timedelta(seconds=task.duration / cfg.time_scale),
                published=self.clock.now(),
                account_id=cfg.events_account_id,
            )
            self.events.queue(task_id, body, event_id)

    def _throttled(self, key: str) -> Response | None:
        limit = self.config.qps_limit
        if limit is None:
            return None
        window = self._windows.setdefault(key, deque())
        real = time.monotonic()
        while window and real - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            self.stats.throttled += 1
            return _json(
                429,
                {
                    "request_id": self._rid(),
                    "code": "Throttling.RateQuota",
                    "message": "Requests rate limit exceeded, please try again later.",
                },
                {"Retry-After": "1"},
            )
        window.append(real)
        return None

    def _task_view(self, task: EmuTask, now: float) -> dict[str, Any]:
        cfg = self.config
        phase = task.phase(now, cfg)
        out: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": phase,
            "submit_time": _fmt(task.submitted_at),
        }
        if phase != "PENDING":
            start = task.submitted_at + timedelta(
                seconds=task.duration * cfg.queue_fraction / cfg.time_scale
            )
            out["scheduled_time"] = _fmt(start)
        if phase in ("SUCCEEDED", "FAILED"):
            out["end_time"] = _fmt(
                task.submitted_at + timedelta(seconds=task.duration / cfg.time_scale)
            )
        if phase == "SUCCEEDED":
            expires = int(self.clock.now().timestamp()) + 86400
            out["video_url"] = (
                f"{self.base_url}/videos/{task.task_id}.mp4?Expires={expires}"
                f"&OSSAccessKeyId=LTAI-emulator&Signature=emu%2Fsig{expires}"
            )
            out["orig_prompt"] = task.prompt
            out["actual_prompt"] = task.prompt
        if phase == "FAILED":
            out["code"] = "DataInspectionFailed"
            out["message"] = "Output data may contain inappropriate content."
        return out

    def _lookup(self, task_id: str, now: float) -> EmuTask | None:
        task = self.tasks.get(task_id)
        if task is None:
            return None
        if (now - task.submitted) * self.config.time_scale > self.config.retention:
            return None
        return task

    def _status(self, req: Request, key: str, now: float) -> Response:
        throttled = self._throttled(key)
        if throttled is not None:
            return throttled
        task_id = req.path.removeprefix(f"{API}/tasks/").strip("/")
        task = self._lookup(task_id, now)
        if task is None:
            # [DOC manage-async] unknown and expired tasks are HTTP 200 with UNKNOWN.
            return _json(
                200,
                {
                    "request_id": self._rid(),
                    "output": {"task_id": task_id, "task_status": "UNKNOWN"},
                },
            )
        doc: dict[str, Any] = {"request_id": self._rid(), "output": self._task_view(task, now)}
        if doc["output"]["task_status"] == "SUCCEEDED":
            doc["usage"] = task.usage
        return _json(200, doc)

    def _cancel(self, req: Request, now: float) -> Response:
        task_id = req.path.removeprefix(f"{API}/tasks/").removesuffix("/cancel")
        task = self._lookup(task_id, now)
        if task is not None and task.phase(now, self.config) == "PENDING":
            task.canceled = True
            return _json(200, {"request_id": self._rid()})
        # [protocol notes §9, uncertain] the likely reply for a task past PENDING.
        return _json(
            400,
            {
                "request_id": self._rid(),
                "code": "UnsupportedOperation",
                "message": "Only tasks in PENDING status can be canceled.",
            },
        )

    def _list(self, req: Request, key: str, now: float) -> Response:
        # The listing is a task query like GET /tasks/{id}: same account, same limit
        # (protocol notes §14 assume one bucket). Rows are the key's own tasks, oldest first.
        throttled = self._throttled(key)
        if throttled is not None:
            return throttled
        try:
            page_no = max(1, int(req.query.get("page_no", "1") or 1))
            page_size = max(1, min(100, int(req.query.get("page_size", "10") or 10)))
        except ValueError:
            return self._bad_list("page_no and page_size must be integers.")
        since, until = (_window(req.query.get(k)) for k in ("start_time", "end_time"))
        if since is not None and until is not None and until - since > timedelta(hours=24):
            return self._bad_list("The time range between start_time and end_time is 24h at most.")
        rows, times = self._in_order, self._submit_times  # a window is a slice of them
        first = 0 if since is None else bisect_left(times, since)
        last = len(rows) if until is None else bisect_left(times, until + timedelta(seconds=1))
        listed_at = now - self.config.list_lag / self.config.time_scale
        rows = [t for t in rows[first:last] if t.key == key and self._lookup(t.task_id, now)]
        if "model_name" in req.query:
            rows = [t for t in rows if t.model == req.query["model_name"]]
        if "status" in req.query:
            rows = [t for t in rows if t.phase(listed_at, self.config) == req.query["status"]]
        page = rows[(page_no - 1) * page_size : page_no * page_size]
        data = [
            {
                "task_id": t.task_id,
                "status": t.phase(listed_at, self.config),
                "model_name": t.model,
                "gmt_create": _fmt(t.submitted_at),
            }
            for t in page
        ]
        return _json(
            200,
            {
                "request_id": self._rid(),
                "data": data,
                "total": len(rows),
                "total_page": max(1, -(-len(rows) // page_size)),
                "page_no": page_no,
                "page_size": page_size,
            },
        )

    def _bad_list(self, message: str) -> Response:
        return _json(
            400, {"request_id": self._rid(), "code": "InvalidParameter", "message": message}
        )

    def _video(self, req: Request) -> Response:
        task_id = req.path.removeprefix("/videos/").removesuffix(".mp4")
        if task_id not in self.tasks or "Signature" not in req.query:
            return Response(
                403,
                b"<Error><Code>AccessDenied</Code></Error>",
                {"Content-Type": "application/xml"},
            )
        return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})

    def _admin(self, req: Request) -> Response:
        name = req.path.removeprefix("/_emulator/")
        if name == "requests":
            return _json(200, [asdict(r) for r in self.requests])
        if name == "stats":
            events = {} if self.events is None else {"events": self.events.counts()}
            return _json(200, {**self.stats.as_dict(), **events})
        if name == "tasks":
            return _json(200, self.task_times())
        if name == "faults" and req.method == "POST":
            self.inject(*(Fault(**f) for f in json.loads(req.body or b"[]")))
            return _json(200, {"faults": len(self.faults)})
        if name == "reset" and req.method == "POST":
            self.reset()
            return _json(200, {"reset": True})
        return _json(404, {"code": "NotFound", "message": name})


def _kind(method: str, path: str) -> str:
    if path in SUBMIT_PATHS and method == "POST":
        return "submit"
    if path == "/_oss" and method == "POST":
        return "oss"
    if path == f"{API}/uploads" and method == "GET":
        return "upload_policy"
    if path.startswith("/videos/"):
        return "video"
    if path.startswith(f"{API}/tasks/") and path.rstrip("/").endswith("/cancel"):
        return "cancel"
    if path.startswith(f"{API}/tasks/") and method == "GET":
        return "status"
    if path.rstrip("/") == f"{API}/tasks" and method == "GET":
        return "list"
    return "other"


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (the media URLs of an input, wherever they sit)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _window(value: str | None) -> datetime | None:
    """A listing bound, `20230420000000` in server time [SDK docstring]."""
    if not value:
        return None
    try:
        when = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=SERVER_TZ)
    except ValueError:
        return None
    return when
