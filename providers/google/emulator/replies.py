"""The emulator's reply shapes: JSON, and Google's `{"error": {code, message, status}}`."""

from __future__ import annotations

import json
from typing import Any

from videoprovider.testing.emulator import Response


def json_reply(status: int, doc: Any) -> Response:
    return Response(status, json.dumps(doc).encode(), {"Content-Type": "application/json"})


def error(http: int, status: str, message: str, details: list[Any] | None = None) -> Response:
    doc: dict[str, Any] = {"error": {"code": http, "message": message, "status": status}}
    if details:
        doc["error"]["details"] = details
    return json_reply(http, doc)
