"""A model's input schema: read from its OpenAPI description, cached in memory and on disk.

Replicate describes each model version's inputs as `components.schemas.Input` of the
version's `openapi_schema`; enums sit behind `allOf: [{"$ref": ...}]` [cog schema]. A pinned
version never changes, so its schema is cached for good; an official model's latest version
can change, so its entry is trusted for `schema_ttl` seconds.
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

log = logging.getLogger("videoprovider.replicate")


@dataclass(frozen=True)
class ModelSchema:
    """The inputs a model version takes: name → JSON schema (refs resolved), and the required."""

    version: str | None
    inputs: dict[str, dict[str, Any]]
    required: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_openapi(cls, version: str | None, openapi: Any) -> ModelSchema:
        components = openapi.get("components", {}) if isinstance(openapi, dict) else {}
        schemas = components.get("schemas", {}) if isinstance(components, dict) else {}
        input_schema = schemas.get("Input", {}) if isinstance(schemas, dict) else {}
        props = input_schema.get("properties", {}) if isinstance(input_schema, dict) else {}
        inputs = {
            name: _resolve(spec, schemas)
            for name, spec in (props.items() if isinstance(props, dict) else ())
            if isinstance(spec, dict)
        }
        required = input_schema.get("required", []) if isinstance(input_schema, dict) else []
        return cls(version, inputs, frozenset(r for r in required if isinstance(r, str)))

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "inputs": self.inputs, "required": sorted(self.required)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelSchema:
        return cls(doc.get("version"), dict(doc["inputs"]), frozenset(doc.get("required", [])))


def _resolve(spec: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """`spec` with its `$ref`s (direct, or under allOf/anyOf) merged in, one level deep."""
    merged = {k: v for k, v in spec.items() if k not in ("allOf", "anyOf", "$ref")}
    refs = [spec] + [s for key in ("allOf", "anyOf") for s in spec.get(key, []) or []]
    for part in refs:
        ref = part.get("$ref") if isinstance(part, dict) else None
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = schemas.get(ref.rsplit("/", 1)[1], {})
            if isinstance(target, dict):
                merged = {**target, **merged}
        elif isinstance(part, dict) and part is not spec:
            merged = {**part, **merged}
    return merged


class SchemaCache:
    """Schemas by model reference, in memory and (unless `directory` is None) on disk."""

    def __init__(self, directory: Path | None, ttl: float) -> None:
        self.directory = directory
        self.ttl = ttl
        self._memory: dict[str, tuple[float, ModelSchema]] = {}

    def get(self, key: str, now: float, *, pinned: bool) -> ModelSchema | None:
        """The cached schema of `key`; None when absent or (for an unpinned model) stale."""
        entry = self._memory.get(key) or self._read(key)
        if entry is None:
            return None
        fetched, schema = entry
        if not pinned and now - fetched > self.ttl:
            return None
        self._memory[key] = entry
        return schema

    def put(self, key: str, schema: ModelSchema, now: float) -> None:
        self._memory[key] = (now, schema)
        self._write(key, now, schema)

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def _read(self, key: str) -> tuple[float, ModelSchema] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text("utf-8"))
            if doc.get("key") != key:
                return None
            return float(doc["fetched"]), ModelSchema.from_json(doc["schema"])
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged cache file is only a cache miss: the schema is fetched again.
            log.info("ignoring unreadable schema cache file %s", path)
            return None

    def _write(self, key: str, now: float, schema: ModelSchema) -> None:
        path = self._path(key)
        if path is None:
            return
        doc = {"key": key, "fetched": now, "schema": schema.to_json()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed, so a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(tmp, path)
        except OSError as exc:
            log.info("could not cache the schema of %s on disk: %s", key, exc)
