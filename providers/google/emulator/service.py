"""The emulated Gemini API for Veo: key check, predictLongRunning, operations on a clock,
filtered and failed results, the key-guarded file download, faults.

Replies follow the Gemini API's shapes [docs/providers/google.md]: an operation is `name`,
then `done` with `response.generateVideoResponse` or `error`; errors are
`{"error": {code, message, status, details}}`; a 429 carries a google.rpc.RetryInfo.
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, Literal

from videoprovider.clock import SystemClock
from videoprovider.testing.emulator import EmulatorClock, Recorded, Request, Response, record
from videoprovider.testing.media import sample_mp4

from ..catalog import GEMINI, VERTEX
from . import interactions, vertex, webhooks
from .replies import error as _error
from .replies import json_reply as _json

API = "/v1beta"
RPC = "type.googleapis.com/google.rpc"
FaultKind = Literal["429", "500", "503", "drop", "drop_after"]
Match = Literal["create", "get", "file", "any"]
_CREATE = re.compile(rf"^{API}/models/([^/:]+):predictLongRunning$")
_GET = re.compile(rf"^{API}/models/([^/:]+)/operations/([^/:]+)$")
_FILE = re.compile(rf"^{API}/files/([A-Za-z0-9]+):download$")
_ALPHABET = string.ascii_lowercase + string.digits
# The PNG signature and an IHDR chunk's start: enough to be served and sent as "a PNG".
SAMPLE_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
FILTER_REASON = (
    "Your current safety settings for person generation blocked one or more videos. "
    "Try rephrasing your prompt."
)


@dataclass
class Fault:
    """Misbehave on the next `count` requests of kind `match`.

    429/500/503 replace the reply; `drop` closes the connection before doing anything;
    `drop_after` does the work (a create starts its operation) and then closes unanswered.
    """

    kind: FaultKind
    match: Match = "any"
    count: int = 1
    retry_delay: float = 30.0


@dataclass
class EmulatorConfig:
    api_keys: tuple[str, ...] | None = None  # None: any non-empty key is accepted
    operation_seconds: float = 60.0  # emulated seconds from submit to done
    seed: int = 0
    fail_marker: str = "[[fail]]"  # prompts containing it end with an `error`
    filter_marker: str = "[[filter]]"  # prompts containing it end filtered, without a video
    # Where result URIs point: None, this emulator (its files need the key); else another
    # host's base URL, as a CDN would serve them.
    video_base_url: str | None = None
    public_files: bool = False  # serve any file id without a key (the "other host" role)
    # Vertex AI: the service accounts (`client_email`) the token endpoint serves; None: any.
    service_accounts: tuple[str, ...] | None = None
    omni_inline: bool = True  # Omni videos come as base64 `data` (False: a file `uri`)
    webhook_secret: str = webhooks.DEFAULT_SECRET  # signs `webhook_deliveries()`


@dataclass
class Operation:
    name: str
    model: str
    created: float
    duration: float
    prompt: str
    file_id: str
    body: dict[str, Any] = field(default_factory=dict)


def _kind(path: str) -> str:
    elsewhere = vertex.kind(path) or interactions.kind(path)
    if elsewhere:
        return elsewhere
    if _CREATE.match(path):
        return "create"
    if _GET.match(path):
        return "get"
    if _FILE.match(path):
        return "file"
    return "other"


class GoogleService:
    """Request handler holding the emulated state. One per emulator."""

    def __init__(
        self, config: EmulatorConfig | None = None, clock: EmulatorClock | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock: EmulatorClock = clock or SystemClock()
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        self.operations: dict[str, Operation] = {}
        self.files: dict[str, str] = {}  # file id → operation name
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.rng = random.Random(self.config.seed)
        self.vertex = vertex.VertexRoutes(self)
        self.interactions = interactions.InteractionRoutes(self)
        self.delivered: set[str] = set()

    def webhook_deliveries(self) -> list[webhooks.Delivery]:
        """Signed deliveries (headers, body) of the tasks finished since the last call, as
        the project's webhook would receive them."""
        return webhooks.due(self)

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def requests_of(self, kind: str) -> list[Recorded]:
        return [r for r in self.requests if _kind(r.path) == kind]

    def _take_fault(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.match in (kind, "any") and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _record(self, req: Request) -> None:
        entry = record(req)
        if "x-goog-api-key" in entry.headers:
            entry.headers["x-goog-api-key"] = "…"  # present, never shown
        self.requests.append(entry)

    async def handle(self, req: Request) -> Response:
        kind = _kind(req.path)
        self._record(req)
        fault = self._take_fault(kind)
        if fault is not None and fault.kind == "429":
            retry = {
                "@type": f"{RPC}.RetryInfo",
                "retryDelay": f"{fault.retry_delay:g}s",
            }
            return _error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", [retry])
        if fault is not None and fault.kind in ("500", "503"):
            status = "INTERNAL" if fault.kind == "500" else "UNAVAILABLE"
            return _error(int(fault.kind), status, "An internal error has occurred.")
        if fault is not None and fault.kind == "drop":
            return Response(drop=True)
        reply = self._route(req, kind)
        return Response(drop=True) if fault is not None else reply

    def _key_refusal(self, req: Request) -> Response | None:
        key = req.headers.get("x-goog-api-key", "").strip()
        if not key:
            return _error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers. Please use an API key.",
            )
        allowed = self.config.api_keys
        if allowed is not None and key not in allowed:
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }
            return _error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info]
            )
        return None

    def _route(self, req: Request, kind: str) -> Response:
        if req.path.startswith("/images/") and req.method == "GET":
            # A public image host, for image inputs given as URLs.
            return Response(200, SAMPLE_PNG, {"Content-Type": "image/png"})
        if vertex.kind(req.path):
            return self.vertex.route(req, kind)
        if kind == "file" and self.config.public_files:
            return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})
        refused = self._key_refusal(req)
        if refused is not None:
            return refused
        if interactions.kind(req.path):
            return self.interactions.route(req)
        if kind == "create" and req.method == "POST":
            model = _CREATE.match(req.path)[1]  # type: ignore[index]
            return self.create(req, model, f"models/{model}")
        if kind == "get" and req.method == "GET":
            match = _GET.match(req.path)
            op = self.operations.get(f"models/{match[1]}/operations/{match[2]}")  # type: ignore[index]
            if op is None:
                return _error(404, "NOT_FOUND", "Operation not found.")
            return _json(200, self.view(op))
        if kind == "file" and req.method == "GET":
            file_id = _FILE.match(req.path)[1]  # type: ignore[index]
            if file_id not in self.files or req.query.get("alt") != "media":
                return _error(404, "NOT_FOUND", "File not found.")
            return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})
        return _error(404, "NOT_FOUND", f"No route for {req.method} {req.path}.")

    def create(self, req: Request, model: str, resource: str) -> Response:
        known = VERTEX.by_id if resource.startswith("projects/") else GEMINI.by_id
        if model not in known:
            return _error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta.")
        try:
            body = json.loads(req.body)
            prompt = body["instances"][0]["prompt"]
        except (ValueError, KeyError, IndexError, TypeError):
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload: instances[0].prompt.")
        if not isinstance(prompt, str) or not prompt.strip():
            return _error(400, "INVALID_ARGUMENT", "The prompt must not be empty.")
        op_id = "".join(self.rng.choice(_ALPHABET) for _ in range(12))
        name = f"{resource}/operations/{op_id}"
        file_id = "".join(self.rng.choice(_ALPHABET) for _ in range(12))
        self.operations[name] = Operation(
            name,
            model,
            self.clock.monotonic(),
            self.config.operation_seconds,
            prompt,
            file_id,
            body,
        )
        self.files[file_id] = name
        return _json(200, {"name": name})

    def view(self, op: Operation) -> dict[str, Any]:
        """The operation as the Gemini API shows it now."""
        name = op.name
        if self.clock.monotonic() - op.created < op.duration:
            return {"name": name}
        doc: dict[str, Any] = {"name": name, "done": True}
        if self.config.fail_marker in op.prompt:
            doc["error"] = {"code": 13, "message": "Video generation failed.", "status": "INTERNAL"}
            return doc
        result: dict[str, Any] = {}
        if self.config.filter_marker in op.prompt:
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [FILTER_REASON]}
        else:
            host = self.config.video_base_url or self.base_url
            uri = f"{host}{API}/files/{op.file_id}:download?alt=media"
            result = {"generatedSamples": [{"video": {"uri": uri}}]}
        doc["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta."
            "PredictLongRunningResponse",
            "generateVideoResponse": result,
        }
        return doc
