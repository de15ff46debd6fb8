"""Images of a request → the Gemini API's inline image objects (`bytesBase64Encoded`,
`mimeType`) [sdk `_Image_to_mldev`]: the Gemini API takes image bytes inline only (a `gcsUri`
is Vertex AI's), so local files, data: URIs and http(s) URLs are read here, before anything
is sent. URLs are fetched by videoprovider's guarded download client (no internal
addresses, no https→http redirects) and never with the provider's key."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from videoprovider.apiclient import read_bounded
from videoprovider.download import download_client, redact_url
from videoprovider.errors import DownloadError, RequestRejected
from videoprovider.localfiles import read_checked

from .catalog import PROVIDER

MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}
# The Gemini API refuses request bodies over 20 MB of inline data [inline-limit]; base64
# grows bytes by a third, so the images together stay under 15 MB.
MAX_INLINE_BYTES = 15 * 1024 * 1024


def _reject(field: str, message: str, hint: str) -> RequestRejected:
    return RequestRejected(message, field=field, hint=hint, provider=PROVIDER, operation="submit")


async def fetch_image(url: str, field: str, allow_loopback: bool) -> tuple[bytes, str]:
    """The bytes and MIME type of the image at `url`, read up to MAX_INLINE_BYTES."""
    shown = redact_url(url)
    client = download_client(
        mounts={},
        timeout=httpx.Timeout(30.0),
        headers={"Accept": "image/png, image/jpeg, image/webp"},
        allow_loopback=allow_loopback,
        allow_private=False,
    )
    try:
        async with client, client.stream("GET", url) as reply:
            if reply.status_code != 200:
                raise _reject(
                    field,
                    f"Fetching {field} {shown} answered HTTP {reply.status_code}.",
                    "Check the URL, or pass a local file.",
                )
            data = await read_bounded(reply, MAX_INLINE_BYTES)
            mime = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    except (httpx.HTTPError, DownloadError) as exc:
        raise _reject(
            field,
            f"Could not fetch {field} {shown}: {type(exc).__name__}: {str(exc)[:200]}.",
            "Check the URL, or pass a local file. Nothing was submitted.",
        ) from None
    if mime not in MIME_TYPES.values():
        mime = MIME_TYPES.get(Path(urlsplit(url).path).suffix.lower(), "")
    if not mime:
        raise _reject(
            field,
            f"{field} {shown} is not a PNG, JPEG or WebP image.",
            "Pass a PNG, JPEG or WebP image.",
        )
    return data, mime


async def inline_image(
    value: str | Path, field: str, allow_loopback: bool = False
) -> tuple[dict[str, Any], int]:
    """The image object for `value` (a local file as `Path`, an http(s) URL or a data: URI),
    and its size."""
    if isinstance(value, Path):
        return await _local_image(value, field)
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "data":
        head, _, payload = value[5:].partition(",")
        mime = head.split(";")[0].lower()
        if ";base64" not in head or mime not in MIME_TYPES.values():
            raise _reject(
                field,
                f"{field} is a data: URI the Gemini API cannot take ({head[:40]!r}).",
                "Use data:image/png;base64,... (or image/jpeg, image/webp).",
            )
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _reject(field, f"{field} holds invalid base64.", "Re-encode the image.") from None
    elif scheme in ("http", "https"):
        data, mime = await fetch_image(value, field, allow_loopback)
    elif scheme == "oss":
        raise _reject(
            field,
            f"{field} is an oss:// URL, which only DashScope reads.",
            "Pass an http(s) URL or a local file (it is sent inline).",
        )
    else:
        raise _reject(
            field,
            f"{field} has a URL scheme the Gemini API provider cannot read ({scheme!r}).",
            "Pass an http(s) URL, a data: URI, or a local file as pathlib.Path.",
        )
    return _image_object(data, mime), len(data)


async def _local_image(path: Path, field: str) -> tuple[dict[str, Any], int]:
    mime = MIME_TYPES.get(path.suffix.lower(), "")
    if not mime:
        raise _reject(
            field,
            f"{field}: {path.name} is not a PNG, JPEG or WebP file.",
            f"Pass a file ending in {', '.join(MIME_TYPES)}.",
        )
    data = await read_checked(path, field, MAX_INLINE_BYTES, "the Gemini API takes images inline")
    return _image_object(data, mime), len(data)


def _image_object(data: bytes, mime: str) -> dict[str, Any]:
    return {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime}


async def image_inputs(
    image_url: str | Path | None,
    last_frame_url: str | Path | None,
    references: tuple[str | Path, ...],
    allow_loopback: bool = False,
) -> dict[str, Any]:
    """The `instances[0]` image fields: `image`, `lastFrame`, `referenceImages` [sdk]."""
    out: dict[str, Any] = {}
    total = 0
    if image_url:
        out["image"], size = await inline_image(image_url, "image_url", allow_loopback)
        total += size
    if last_frame_url:
        out["lastFrame"], size = await inline_image(
            last_frame_url, "last_frame_url", allow_loopback
        )
        total += size
    refs = []
    for i, ref in enumerate(references):
        image, size = await inline_image(ref, f"reference_urls[{i}]", allow_loopback)
        total += size
        # "asset": a subject to keep (the only reference type the Gemini API takes) [veo-guide].
        refs.append({"image": image, "referenceType": "asset"})
    if refs:
        out["referenceImages"] = refs
    if total > MAX_INLINE_BYTES:
        raise _reject(
            "image_url" if image_url else "reference_urls",
            f"The images add up to {total} bytes, over the {MAX_INLINE_BYTES} the Gemini API "
            "takes inline in one request.",
            "Pass smaller images (a 1280x720 JPEG is well under a megabyte).",
        )
    return out
