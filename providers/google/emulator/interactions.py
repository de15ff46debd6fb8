"""The Interactions API's side of the emulator, for the Gemini Omni models: background
interactions created with `POST /v1beta/interactions`, read with `GET .../{id}`, cancelled
with `POST .../{id}/cancel`; a completed one carries `output_video` (base64 `data`, or a
file `uri` with `EmulatorConfig.omni_inline` off), a failed one `errors[]`."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from videoprovider.testing.emulator import Request, Response
from videoprovider.testing.media import sample_mp4

from ..catalog import OMNI_MODELS
from .replies import error, json_reply

if TYPE_CHECKING:
    from .service import GoogleService

_PATH = re.compile(r"^/v1beta/interactions(?:/([A-Za-z0-9_-]+)(/cancel)?)?$")


def kind(path: str) -> str | None:
    match = _PATH.match(path)
    if match is None:
        return None
    return "cancel" if match[2] else ("get" if match[1] else "create")


@dataclass
class Interaction:
    id: str
    model: str
    created: float
    prompt: str
    file_id: str
    canceled_at: float | None = None


class InteractionRoutes:
    def __init__(self, service: GoogleService) -> None:
        self.service = service
        self.interactions: dict[str, Interaction] = {}

    def route(self, req: Request) -> Response:
        match = _PATH.match(req.path)
        assert match is not None  # kind() matched it
        if match[1] is None:
            return self._create(req) if req.method == "POST" else error(405, "UNIMPLEMENTED", "")
        found = self.interactions.get(match[1])
        if found is None:
            return error(404, "NOT_FOUND", "Interaction not found.")
        running = self._status(found) in ("queued", "in_progress")
        if match[2] and req.method == "POST" and running:
            found.canceled_at = self.service.clock.monotonic()
        return json_reply(200, self.view(found))

    def _create(self, req: Request) -> Response:
        try:
            body = json.loads(req.body)
            model, content = body["model"], body["input"]
        except (ValueError, KeyError, TypeError):
            return error(400, "INVALID_ARGUMENT", "model and input are required.")
        if model not in {m.id for m in OMNI_MODELS}:
            return error(404, "NOT_FOUND", f"Model {model} is not found.")
        texts = (
            [content]
            if isinstance(content, str)
            else [part.get("text", "") for part in content if isinstance(part, dict)]
        )
        prompt = " ".join(t for t in texts if isinstance(t, str))
        if not prompt.strip():
            return error(400, "INVALID_ARGUMENT", "The input holds no text.")
        rng = self.service.rng
        ident = "v1_" + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16)
        )
        file_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        item = Interaction(ident, model, self.service.clock.monotonic(), prompt, file_id)
        self.interactions[ident] = item
        self.service.files[file_id] = ident
        return json_reply(200, self.view(item))

    def _status(self, item: Interaction) -> str:
        if item.canceled_at is not None:
            return "cancelled"
        age = self.service.clock.monotonic() - item.created
        seconds = self.service.config.operation_seconds
        if age < 0.1 * seconds:
            return "queued"
        if age < seconds:
            return "in_progress"
        return "failed" if self.service.config.fail_marker in item.prompt else "completed"

    def view(self, item: Interaction) -> dict[str, Any]:
        status = self._status(item)
        doc: dict[str, Any] = {"id": item.id, "model": item.model, "status": status}
        if status == "failed":
            doc["errors"] = [{"code": "INTERNAL", "message": "Video generation failed."}]
        if status == "completed":
            if self.service.config.omni_inline:
                data = base64.b64encode(sample_mp4()).decode("ascii")
                doc["output_video"] = {"type": "video", "data": data, "mime_type": "video/mp4"}
            else:
                uri = f"{self.service.base_url}/v1beta/files/{item.file_id}:download?alt=media"
                doc["output_video"] = {"type": "video", "uri": uri, "mime_type": "video/mp4"}
        return doc
