"""Local media files for DashScope: checked before anything is sent, then uploaded.

DashScope reads every media input from a URL. A local file (a `pathlib.Path` in the request;
a str is always a URL) is uploaded to
DashScope's temporary storage the way the official SDK does it [SDK utils/oss_utils.py,
v2/resources/_oss.py]:

1. `GET /api/v1/uploads?action=getPolicy&model=<model>` (with the API key) returns a
   short-lived upload policy for an OSS bucket: `upload_host`, `upload_dir`, `policy`,
   `signature`, `oss_access_key_id`, `x_oss_object_acl`, `x_oss_forbid_overwrite`,
   `max_file_size_mb`, `expire_in_seconds`.
2. A multipart form POST of those fields and the file to `upload_host` stores it under
   `<upload_dir>/<file name>`. The API key is never sent there.
3. The input becomes `oss://<upload_dir>/<file name>`, which resolves only for that model's
   tasks and only when the submit carries `X-DashScope-OssResourceResolve: enable`.

Uploaded files are deleted after 48 hours, and the upload API is rate-limited: it suits
occasional local files, not volume (host media on your own storage for that).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx

from videoprovider.apiclient import describe, is_loopback, send_bounded
from videoprovider.errors import ProtocolError, ProviderUnavailable, RequestRejected
from videoprovider.localfiles import open_checked
from videoprovider.models import VideoRequest

from . import wire

__all__ = [
    "OSS_RESOLVE_HEADER",
    "LocalFile",
    "Uploader",
    "local_file",
    "media_fields",
    "replace_strings",
    "strings_in",
]

OSS_RESOLVE_HEADER = {"X-DashScope-OssResourceResolve": "enable"}
MIB = 1024 * 1024
# What the Wan API references accept as media files, and their size limits: images (first
# frame, last frame, references) up to 10 MB, driving audio up to 15 MB, reference videos up
# to 100 MB [DOC image-to-video-api-reference, reference-to-video-api-reference].
KINDS = {
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".bmp": "image",
    ".webp": "image",
    ".wav": "audio",
    ".mp3": "audio",
    ".mp4": "video",
    ".mov": "video",
}
MAX_BYTES = {"image": 10 * MIB, "audio": 15 * MIB, "video": 100 * MIB}


@dataclass(frozen=True)
class LocalFile:
    """A checked local media file, open: which request field named it, what it is, and the
    descriptor its bytes are uploaded from (the file that was checked, whatever the name
    points to by then). Close it with `close()`."""

    field: str
    path: Path
    kind: str
    size: int
    handle: BinaryIO

    def close(self) -> None:
        self.handle.close()


def local_file(value: str | Path, field: str, allowed: tuple[str, ...] = ()) -> LocalFile | None:
    """The checked, open file behind a local `Path`; None for a URL (a str) to pass on.

    `allowed` limits the kinds ("image", "audio", "video") this field takes. Raises
    RequestRejected naming the field when the file is missing, a symlink, not a regular file
    (a FIFO, device, directory or /proc entry), unreadable, of a type DashScope does not
    take, empty or too large.
    """
    if isinstance(value, str):
        return None  # VideoRequest admits only URLs as str
    path = value.expanduser()
    where = f"{field}: {path}"
    kind = KINDS.get(path.suffix.lower())
    accepted = allowed or tuple(sorted(set(KINDS.values())))
    if kind is None or kind not in accepted:
        suffixes = sorted(s for s, k in KINDS.items() if k in accepted)
        raise RequestRejected(
            f"{where} is not a file type this field takes; use one of {', '.join(suffixes)}.",
            field=field,
        )
    opened = open_checked(path, field, MAX_BYTES[kind], f"DashScope takes {kind} files")
    return LocalFile(field, path, kind, opened.size, opened.handle)


class Uploader:
    """Uploads local files for one submit, reusing one upload policy for all of them."""

    def __init__(self, api: httpx.AsyncClient, storage: httpx.AsyncClient, model: str) -> None:
        self._api = api  # carries the API key: for the policy request only
        self._storage = storage  # no key: the upload goes to a host the policy names
        self._model = model
        self._policy: dict[str, Any] | None = None

    async def upload(self, file: LocalFile) -> str:
        """Store `file` in DashScope's temporary storage; return its `oss://` URL."""
        policy = self._policy or await self._fetch_policy()
        self._policy = policy
        limit = policy.get("max_file_size_mb")
        if isinstance(limit, (int, float)) and file.size > limit * MIB:
            raise RequestRejected(
                f"{file.field}: {file.path} is {file.size / MIB:.1f} MB; DashScope's upload "
                f"takes at most {limit} MB.",
                field=file.field,
            )
        key = f"{policy['upload_dir']}/{file.path.name}"
        form = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "key": key,
            "x-oss-object-acl": policy["x_oss_object_acl"],
            "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
            "success_action_status": "200",
            "x-oss-content-type": mimetypes.guess_type(file.path.name)[0]
            or "application/octet-stream",
        }
        host = _upload_host(policy["upload_host"])
        try:
            file.handle.seek(0)
            reply = await send_bounded(
                self._storage,
                "POST",
                host,
                data=form,
                files={"file": (file.path.name, file.handle)},
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Uploading {file.path} to DashScope's storage failed: {describe(exc)}. "
                "Nothing was submitted.",
                provider="dashscope",
                operation="submit",
            ) from exc
        if reply.status_code != 200:
            raise ProviderUnavailable(
                f"DashScope's storage refused the upload of {file.path} (HTTP "
                f"{reply.status_code}): {wire.excerpt(reply.text)!r}. Nothing was submitted.",
                provider="dashscope",
                operation="submit",
                http_status=reply.status_code,
            )
        return f"oss://{key}"

    async def _fetch_policy(self) -> dict[str, Any]:
        try:
            reply = await send_bounded(
                self._api, "GET", "/uploads", params={"action": "getPolicy", "model": self._model}
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"Asking DashScope for an upload policy failed: {describe(exc)}. "
                "Nothing was submitted.",
                provider="dashscope",
                operation="submit",
            ) from exc
        if reply.status_code != 200:
            raise wire.error_for(reply, "submit")
        body = wire.json_body(reply, "submit")
        # The SDK reads the policy from `data` (the uploads API) or `output`.
        policy = body.get("data") or body.get("output") if isinstance(body, dict) else None
        needed = ("upload_host", "upload_dir", "policy", "signature", "oss_access_key_id")
        if not isinstance(policy, dict) or any(not policy.get(k) for k in needed):
            raise ProtocolError(
                f"DashScope's upload policy lacks {', '.join(needed)}: "
                f"{wire.excerpt(reply.text)!r}. Nothing was submitted.",
                provider="dashscope",
                operation="submit",
            )
        policy.setdefault("x_oss_object_acl", "private")
        policy.setdefault("x_oss_forbid_overwrite", "true")
        return policy


def _upload_host(url: str) -> str:
    # The host comes from DashScope's reply; still, a file goes there, so insist on TLS
    # (cleartext only to loopback, where the emulator serves it).
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise ProtocolError(
            f"DashScope named an upload host that is not https: {parts.scheme}://{host}. "
            "Nothing was uploaded or submitted.",
            provider="dashscope",
            operation="submit",
        )
    return url


def media_fields(request: VideoRequest) -> list[tuple[str, str | Path, tuple[str, ...]]]:
    """(field, value, the kinds of file it takes) for every media input of `request`."""
    fields: list[tuple[str, str | Path, tuple[str, ...]]] = []
    for name, kinds in (
        ("image_url", ("image",)),
        ("last_frame_url", ("image",)),
        ("audio_url", ("audio",)),
    ):
        value = getattr(request, name)
        if value:
            fields.append((name, value, kinds))
    for i, url in enumerate(request.reference_urls):
        fields.append((f"reference_urls[{i}]", url, ("image", "video")))
    return fields


def replace_strings(value: Any, mapping: Mapping[str | Path, str]) -> Any:
    """`value` (a JSON body) with every string or Path that is a key of `mapping` replaced."""
    if isinstance(value, (str, Path)):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {k: replace_strings(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_strings(v, mapping) for v in value]
    return value


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON value: where media URLs sit, whatever the input's shape."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []
