"""The emulator's temporary storage: upload policies, the OSS form upload, `oss://` lookups.

`GET /api/v1/uploads?action=getPolicy&model=M` hands out a policy whose `upload_host` is this
emulator's `/_oss` path; a multipart form POST there stores the file (the form is parsed by
the standard library's email parser, as RFC 7578 defines it); an `oss://` URL then resolves
only for tasks of the model the policy was issued for, like DashScope's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any

from videoprovider.testing.emulator import Request


@dataclass
class Stored:
    model: str
    name: str
    content_type: str
    data: bytes


@dataclass
class UploadStore:
    """Issued upload directories (by model) and the files stored under them."""

    dirs: dict[str, str] = field(default_factory=dict)  # upload_dir -> model
    files: dict[str, Stored] = field(default_factory=dict)  # key -> file
    max_file_size_mb: int = 100

    def policy(self, model: str, base_url: str) -> dict[str, Any]:
        upload_dir = f"dashscope-instant/{secrets.token_hex(8)}/{model}"
        self.dirs[upload_dir] = model
        return {
            "policy": secrets.token_urlsafe(24),
            "signature": secrets.token_urlsafe(16),
            "upload_dir": upload_dir,
            "upload_host": f"{base_url}/_oss",
            "expire_in_seconds": 300,
            "max_file_size_mb": self.max_file_size_mb,
            "capacity_limit_mb": 999999999,
            "oss_access_key_id": "LTAI-emulator",
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def receive(self, req: Request) -> tuple[int, str]:
        """Store a form upload; return the HTTP status and a reason for a refusal."""
        if "authorization" in req.headers:
            return 400, "the upload must not carry the API key"
        content_type = req.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return 400, "expected multipart/form-data"
        message = BytesParser(policy=email_policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + req.body
        )
        fields: dict[str, str] = {}
        upload: tuple[str, str, bytes] | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                continue
            if filename is not None:
                upload = (filename, part.get_content_type(), payload)
            else:
                fields[name] = payload.decode()
        key = fields.get("key", "")
        upload_dir = key.rpartition("/")[0]
        missing = [f for f in ("OSSAccessKeyId", "Signature", "policy", "key") if f not in fields]
        if missing or upload is None:
            return 400, f"missing form fields: {', '.join(missing) or 'file'}"
        if upload_dir not in self.dirs:
            return 403, "no policy was issued for this upload_dir"
        if key in self.files and fields.get("x-oss-forbid-overwrite") == "true":
            return 409, "FileAlreadyExists"
        if len(upload[2]) > self.max_file_size_mb * 1024 * 1024:
            return 400, "EntityTooLarge"
        content_type = fields.get("x-oss-content-type", upload[1])
        self.files[key] = Stored(self.dirs[upload_dir], upload[0], content_type, upload[2])
        return 200, ""

    def resolve(self, url: str, model: str) -> str | None:
        """Why `url` (an oss:// input of a task of `model`) does not resolve, or None."""
        stored = self.files.get(url.removeprefix("oss://"))
        if stored is None:
            return f"the file {url} does not exist or expired"
        if stored.model != model:
            return f"the file {url} was uploaded for model {stored.model}, not {model}"
        return None
