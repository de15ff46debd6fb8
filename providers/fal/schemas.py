"""An endpoint's input schema: read from its published OpenAPI document, cached.

fal publishes one OpenAPI 3 document per endpoint (`<schema_url>?endpoint_id=<id>`); the
submit operation is `POST /<endpoint id>` and its request body is a `$ref` to the input
schema under `components.schemas` [schemas]. Entries are trusted for `schema_ttl` seconds,
in memory and (unless no directory is given) on disk, so a CLI run does not refetch them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("videoprovider.fal")


@dataclass(frozen=True)
class InputSchema:
    """The inputs an endpoint takes: name → JSON schema (refs resolved), and the required."""

    inputs: dict[str, dict[str, Any]]
    required: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_openapi(cls, endpoint: str, doc: Any) -> InputSchema | None:
        """The input schema of `endpoint` in `doc`; None when the document has none."""
        schemas = _get(doc, "components", "schemas")
        body = _get(doc, "paths", f"/{endpoint}", "post", "requestBody", "content")
        ref = _get(body, "application/json", "schema", "$ref")
        target = _deref(ref, schemas) if isinstance(ref, str) else None
        if target is None and isinstance(schemas, dict):
            # Documents without the path still name their input "...Input".
            named = [v for k, v in schemas.items() if k.endswith("Input") and isinstance(v, dict)]
            target = named[0] if len(named) == 1 else None
        if not isinstance(target, dict) or not isinstance(target.get("properties"), dict):
            return None
        inputs = {
            name: _resolve(spec, schemas)
            for name, spec in target["properties"].items()
            if isinstance(spec, dict)
        }
        required = target.get("required", [])
        return cls(inputs, frozenset(r for r in required if isinstance(r, str)))

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "required": sorted(self.required)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InputSchema:
        return cls(dict(doc["inputs"]), frozenset(doc.get("required", [])))


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _deref(ref: str, schemas: Any) -> dict[str, Any] | None:
    if not ref.startswith("#/components/schemas/") or not isinstance(schemas, dict):
        return None
    found = schemas.get(ref.rsplit("/", 1)[1])
    return found if isinstance(found, dict) else None


def _resolve(spec: dict[str, Any], schemas: Any) -> dict[str, Any]:
    """`spec` with its `$ref`s merged in and an `anyOf: [X, null]` (optional) reduced to X."""
    merged = {k: v for k, v in spec.items() if k not in ("allOf", "anyOf", "$ref")}
    parts = [spec] + [s for key in ("allOf", "anyOf") for s in spec.get(key, []) or []]
    for part in parts:
        if not isinstance(part, dict) or part.get("type") == "null":
            continue
        ref = part.get("$ref")
        target = _deref(ref, schemas) if isinstance(ref, str) else None
        if target is not None:
            merged = {**target, **merged}
        elif part is not spec:
            merged = {**part, **merged}
    return merged


class SchemaCache:
    """Schemas by endpoint id, in memory and (unless `directory` is None) on disk."""

    def __init__(self, directory: Path | None, ttl: float) -> None:
        self.directory = directory
        self.ttl = ttl
        self._memory: dict[str, tuple[float, InputSchema]] = {}

    def get(self, key: str, now: float) -> InputSchema | None:
        entry = self._memory.get(key) or self._read(key)
        if entry is None or now - entry[0] > self.ttl:
            return None
        self._memory[key] = entry
        return entry[1]

    def put(self, key: str, schema: InputSchema, now: float) -> None:
        self._memory[key] = (now, schema)
        path = self._path(key)
        if path is None:
            return
        doc = {"key": key, "fetched": now, "schema": schema.to_json()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(tmp, path)  # renamed into place: a reader never sees half a file
        except OSError as exc:
            log.info("could not cache the schema of %s on disk: %s", key, exc)

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def _read(self, key: str) -> tuple[float, InputSchema] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text("utf-8"))
            if doc.get("key") != key:
                return None
            return float(doc["fetched"]), InputSchema.from_json(doc["schema"])
        except (OSError, ValueError, KeyError, TypeError):
            log.info("ignoring unreadable schema cache file %s", path)
            return None
