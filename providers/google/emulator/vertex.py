"""Vertex AI's side of the emulator: the OAuth token endpoint, `:predictLongRunning` and
`:fetchPredictOperation` under projects/locations/publishers/google/models, and the Cloud
Storage JSON API download of gs:// results, each behind the bearer tokens it issued.

Shapes [docs/providers/google.md]: a token reply `{access_token, expires_in, token_type}`;
a done operation's `response` holds `videos[]` (`gcsUri` when the request named a
`storageUri`, else `bytesBase64Encoded`) and `raiMediaFilteredCount`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from videoprovider.testing.emulator import Request, Response
from videoprovider.testing.media import sample_mp4

from .replies import error, json_reply

if TYPE_CHECKING:
    from .service import GoogleService

TOKEN_PATH = "/token"
_MODEL = r"^/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+)"
_CREATE = re.compile(_MODEL + r":predictLongRunning$")
_FETCH = re.compile(_MODEL + r":fetchPredictOperation$")
_OBJECT = re.compile(r"^/storage/v1/b/([^/]+)/o/(.+)$")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def service_account_file(path: Any, token_uri: str, project: str = "emulated-project") -> str:
    """Write a service-account JSON key (a fresh RSA key) whose `token_uri` is `token_uri`,
    as Google's console issues them; return its path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"veo@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(info, out)
    return str(path)


def kind(path: str) -> str | None:
    if path == TOKEN_PATH:
        return "token"
    if _CREATE.match(path):
        return "create"
    if _FETCH.match(path):
        return "get"
    if _OBJECT.match(path):
        return "file"
    return None


def _claims(assertion: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: the emulator checks who asked, not the signature."""
    try:
        payload = assertion.split(".")[1]
        decoded: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


class VertexRoutes:
    def __init__(self, service: GoogleService) -> None:
        self.service = service
        self.tokens: set[str] = set()
        self.objects: dict[str, str] = {}  # "bucket/object" → operation name

    def route(self, req: Request, what: str) -> Response:
        if what == "token":
            return self._token(req)
        auth = req.headers.get("authorization", "")
        if auth.removeprefix("Bearer ").strip() not in self.tokens:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if what == "create":
            match = _CREATE.match(req.path)
            assert match is not None  # kind() matched it
            return self.service.create(req, match[3], self._name(match))
        if what == "get":
            try:
                name = json.loads(req.body)["operationName"]
            except (ValueError, KeyError, TypeError):
                return error(400, "INVALID_ARGUMENT", "operationName is required.")
            return self._fetch(str(name))
        match = _OBJECT.match(req.path)
        key = f"{unquote(match[1])}/{unquote(match[2])}"  # type: ignore[index]
        if key not in self.objects or req.query.get("alt") != "media":
            return error(404, "NOT_FOUND", "No such object.")
        return Response(200, sample_mp4(), {"Content-Type": "video/mp4"})

    def _name(self, match: re.Match[str]) -> str:
        project, location, model = match.groups()
        return f"projects/{project}/locations/{location}/publishers/google/models/{model}"

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("ascii", "replace")).items()}
        claims = _claims(form.get("assertion", ""))
        if form.get("grant_type") != JWT_BEARER or not claims.get("iss"):
            return json_reply(400, {"error": "invalid_grant", "error_description": "Bad JWT."})
        allowed = self.service.config.service_accounts
        if allowed is not None and claims["iss"] not in allowed:
            return json_reply(401, {"error": "invalid_client", "error_description": "No."})
        token = f"ya29.emulator-{secrets.token_hex(8)}"
        self.tokens.add(token)
        return json_reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _fetch(self, name: str) -> Response:
        op = self.service.operations.get(name)
        if op is None:
            return error(404, "NOT_FOUND", "Operation not found.")
        doc = self.service.view(op)
        if not doc.get("done") or "error" in doc or self.service.config.filter_marker in op.prompt:
            if "response" in doc:
                filtered = doc["response"]["generateVideoResponse"]
                doc["response"] = {"raiMediaFilteredCount": 1, **filtered}
            return json_reply(200, doc)
        storage = (op.body.get("parameters") or {}).get("storageUri")
        if isinstance(storage, str) and storage.startswith("gs://"):
            uri = f"{storage.rstrip('/')}/{op.file_id}/sample_0.mp4"
            self.objects[uri.removeprefix("gs://")] = name
            video = {"gcsUri": uri, "mimeType": "video/mp4"}
        else:
            encoded = base64.b64encode(sample_mp4()).decode("ascii")
            video = {"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}
        doc["response"] = {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            "raiMediaFilteredCount": 0,
            "videos": [video],
        }
        return json_reply(200, doc)
