"""The Veo models on Vertex AI (entry point `vertex`): OAuth tokens from google-auth,
`:predictLongRunning` and `:fetchPredictOperation` under
`projects/{p}/locations/{l}/publishers/google/models/{m}`, results as gs:// URIs (fetched
through the Cloud Storage JSON API with the same token) or inline bytes (saved without a
download). The submit rule, retries and state mapping are the Gemini API provider's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from videoprovider.apiclient import send_bounded
from videoprovider.catalog import ModelInfo
from videoprovider.errors import ConfigurationError, TaskNotFound
from videoprovider.hookspecs import hookimpl
from videoprovider.models import TaskStatus, VideoRequest
from videoprovider.provider import Operation, ProviderContext, ProviderSettings

from . import catalog, wire
from .provider import MAX_INLINE_REPLY, VeoProvider, origin
from .vertex_auth import AccessTokens
from .vertex_settings import VertexSettings

# `projects/<p>/locations/<l>/publishers/google/models/<m>/operations/<id>` [vertex-veo-rest].
OPERATION = re.compile(
    r"projects/([a-z0-9][a-z0-9-]{0,62})/locations/([a-z][a-z0-9-]{0,62})/publishers/google/"
    r"models/([a-z0-9][a-z0-9.-]{0,62})/operations/([A-Za-z0-9_-]{1,128})"
)
_GS = re.compile(r"gs://([^/]+)/(.+)")


class VertexProvider(VeoProvider):
    """Veo video models on Vertex AI (aiplatform.googleapis.com)."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(
        {Operation.SUBMIT, Operation.STATUS, Operation.URL}
    )
    unsupported: ClassVar[dict[Operation, str]] = {
        Operation.CANCEL: "Vertex AI's Veo docs offer no cancel for video operations.",
    }
    Settings: ClassVar[type[ProviderSettings]] = VertexSettings
    models: ClassVar[tuple[ModelInfo, ...]] = tuple(m.info() for m in catalog.VERTEX_MODELS)
    service = "Vertex AI"
    catalogue: ClassVar[catalog.Catalogue] = catalog.VERTEX
    operation_names: ClassVar[re.Pattern[str]] = OPERATION

    def __init__(self, settings: VertexSettings, context: ProviderContext) -> None:
        self.tokens = AccessTokens(settings.credentials_file)
        project = settings.project or self.tokens.project
        if not project:
            raise ConfigurationError(
                "The vertex provider needs a Google Cloud project.",
                hint="Set project in [vertex] or GOOGLE_CLOUD_PROJECT.",
            )
        self.project = project
        self.vertex = settings
        self._storage = origin(settings.storage_url)
        self._setup(settings, context, settings.api_root, {})

    def _resource(self, model: str) -> str:
        return (
            f"/projects/{quote(self.project, safe='')}/locations/"
            f"{quote(self.vertex.location, safe='')}/publishers/google/models/{model}"
        )

    async def _auth_headers(self) -> dict[str, str]:
        return await self.tokens.headers()

    def _submit_path(self, model: catalog.VeoModel) -> str:
        return f"{self._resource(model.id)}:predictLongRunning"

    async def _body(self, request: VideoRequest, model: catalog.VeoModel) -> dict[str, Any]:
        body = wire.request_body(request, await self._images(request))
        # Vertex-only parameters [sdk-2.34 `_GenerateVideosConfig_to_vertex`].
        parameters = body.setdefault("parameters", {})
        if request.seed is not None:
            parameters["seed"] = request.seed
        if request.audio is not None:
            parameters["generateAudio"] = request.audio
        if self.vertex.output_gcs_uri:
            parameters["storageUri"] = self.vertex.output_gcs_uri
        return body

    async def _fetch(self, task_id: str) -> httpx.Response:
        match = OPERATION.fullmatch(task_id) if isinstance(task_id, str) else None
        if match is None:
            raise TaskNotFound(
                f"{task_id!r} is not a Vertex AI video operation name (projects/<p>/locations/"
                "<l>/publishers/google/models/<m>/operations/<id>); nothing was sent.",
                provider=self.context.name,
                operation="status",
                task_id=str(task_id),
                hint="Pass the name that submit returned.",
            )
        parts = [quote(part, safe="") for part in match.groups()]
        resource = f"/projects/{parts[0]}/locations/{parts[1]}/publishers/google/models/{parts[2]}"
        headers = await self.tokens.headers()
        return await send_bounded(
            self._http,
            "POST",
            f"{resource}:fetchPredictOperation",
            json={"operationName": task_id},
            headers=headers,
            max_bytes=MAX_INLINE_REPLY,
        )

    def _parse_status(self, response: httpx.Response, task_id: str) -> TaskStatus:
        name = self.context.name
        body = wire.parse_operation(response, "status", task_id, name, self.operation_names)
        now = self.context.clock.now()

        op_id = task_id.rsplit("/", 1)[-1]

        def videos(doc: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            result = doc.get("response") or {}
            found = (
                self._video_url(video, f"{op_id}-{i}")
                for i, video in enumerate(result.get("videos") or [])
            )
            return [url for url in found if url], result

        status = wire.status_of(
            body, task_id, now, self._progress(task_id), self.context.name, videos
        )
        # Keep inline video bytes out of the status (and so out of the journal).
        raw = status.raw
        if isinstance(raw, dict) and isinstance(raw.get("response"), dict):
            kept = [
                {k: v for k, v in video.items() if k != "bytesBase64Encoded"}
                for video in raw["response"].get("videos") or []
                if isinstance(video, dict)
            ]
            raw = {**raw, "response": {**raw["response"], "videos": kept}}
            status = status.model_copy(update={"raw": raw})
        return status

    def _video_url(self, video: Any, key: str) -> str | None:
        """A download URL for one entry of `response.videos` [sdk-2.34 `_Video_from_vertex`]."""
        if not isinstance(video, dict):
            return None
        uri = video.get("gcsUri")
        match = _GS.fullmatch(uri) if isinstance(uri, str) else None
        if match:
            bucket, name = (quote(part, safe="") for part in match.groups())
            return f"{self.vertex.storage_url}/storage/v1/b/{bucket}/o/{name}?alt=media"
        encoded = video.get("bytesBase64Encoded")
        return self._keep_inline(key, encoded) if isinstance(encoded, str) else None

    @hookimpl
    def videoprovider_download_headers(self, url: str) -> Mapping[str, str] | None:
        # The token goes to the API's origin and the Cloud Storage origin, nowhere else.
        try:
            target = origin(url)
        except httpx.InvalidURL:
            return None
        return self.tokens.cached() if target in (self._origin, self._storage) else None

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        self.tokens.close()
        await self._http.aclose()
