"""`/v1/videos`: OpenAI's video routes, each a thin map from the wire to the Gateway."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from .callers import Caller
from .errors import ApiError
from .gateway import Gateway
from .requests import Asked
from .views import to_wire
from .wire import Video, VideoCreate, VideoDeleted, VideoList

__all__ = ["Gw", "Who", "router"]

router = APIRouter(prefix="/v1")
# The image formats providers take as a first frame, by their leading bytes.
_IMAGES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg", b"RIFF": ".webp"}
_CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VideoCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string"},
                        "model": {"type": "string"},
                        "seconds": {"type": "string"},
                        "size": {"type": "string"},
                        "input_reference": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


async def caller(request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> Caller:
    """The caller of this request, by its bearer key, within its request rate."""
    who: Caller = request.app.state.keys.caller(request.headers.get("authorization"))
    request.app.state.rates.take(who)
    return who


Who = Annotated[Caller, Depends(caller)]
Gw = Annotated[Gateway, Depends(gateway)]


def _poll_after(response: Response, gw: Gateway) -> None:
    response.headers["openai-poll-after-ms"] = str(gw.settings.poll_after_ms)


@router.post("/videos", response_model=Video, openapi_extra=_CREATE_BODY)
async def create_video(
    request: Request,
    response: Response,
    who: Who,
    gw: Gw,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Video:
    """Create a video: JSON, or multipart with an `input_reference` image as the openai
    clients send it."""
    asked, upload = await _asked(request, gw)
    try:
        row = await gw.create(who, asked, idempotency_key, upload)
    finally:
        if upload is not None:
            upload.unlink(missing_ok=True)
    _poll_after(response, gw)
    return to_wire(row)


async def _asked(request: Request, gw: Gateway) -> tuple[Asked, Path | None]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=20)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        upload, image_url = None, values.get("input_reference[image_url]")
        reference = form.get("input_reference")
        if isinstance(reference, UploadFile):
            upload = await _save_upload(reference, gw)
        if not values.get("prompt"):
            raise ApiError(400, "prompt is required.", param="prompt", code="missing_required")
        asked = Asked(
            prompt=values["prompt"],
            model=values.get("model"),
            seconds=values.get("seconds"),
            size=values.get("size"),
            image_url=image_url,
            extra=_bracketed(values, "extra"),
            callback_url=values.get("callback_url"),
        )
        return asked, upload
    try:
        body = VideoCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(
            400, f"{param or 'body'}: {first['msg']}.", param=param, code="invalid_value"
        ) from None
    image = (body.input_reference or {}).get("image_url")
    asked = Asked(
        prompt=body.prompt,
        model=body.model,
        seconds=None if body.seconds is None else str(body.seconds),
        size=body.size,
        image_url=image,
        extra=dict(body.extra or {}),
        callback_url=body.callback_url,
    )
    return asked, None


def _bracketed(values: dict[str, str], name: str) -> dict[str, Any]:
    """`name[a][b]=v` form fields (how the openai clients put extra_body into a multipart
    form) as {"a": {"b": v}}."""
    found: dict[str, Any] = {}
    for key, value in values.items():
        if not key.startswith(f"{name}["):
            continue
        parts = key[len(name) :].strip("[]").split("][")
        where = found
        for part in parts[:-1]:
            where = where.setdefault(part, {})
            if not isinstance(where, dict):
                raise ApiError(400, f"{key}: conflicting form fields.", param=name)
        where[parts[-1]] = value
    return found


async def _save_upload(upload: UploadFile, gw: Gateway) -> Path:
    cap = gw.settings.max_upload_bytes
    data = await upload.read(cap + 1)
    if len(data) > cap:
        raise ApiError(
            413,
            f"input_reference is larger than the {cap} bytes this gateway accepts.",
            param="input_reference",
            code="file_too_large",
            retry=False,
        )
    suffix = next((s for magic, s in _IMAGES.items() if data.startswith(magic)), None)
    if suffix is None or (suffix == ".webp" and data[8:12] != b"WEBP"):
        raise ApiError(
            400,
            "input_reference must be a PNG, JPEG or WebP image.",
            param="input_reference",
            code="invalid_file",
            retry=False,
        )
    folder = gw.storage.spool
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return path


@router.get("/videos/{video_id}", response_model=Video)
async def retrieve_video(video_id: str, response: Response, who: Who, gw: Gw) -> Video:
    _poll_after(response, gw)
    return to_wire(gw.get(who, video_id))


@router.get("/videos", response_model=VideoList)
async def list_videos(
    who: Who,
    gw: Gw,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> VideoList:
    rows = gw.store.page(who.name, after, limit, order)
    data = [to_wire(r) for r in rows[:limit]]
    return VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=len(rows) > limit,
    )


@router.get("/videos/{video_id}/content", response_class=FileResponse)
async def video_content(
    video_id: str, who: Who, gw: Gw, variant: Literal["video"] = "video"
) -> Response:
    """The stored MP4, with Range support."""
    return await gw.content(who, video_id)


@router.delete("/videos/{video_id}", response_model=VideoDeleted)
async def delete_video(video_id: str, who: Who, gw: Gw) -> VideoDeleted:
    """Cancel (where the provider can) and delete the video and its stored file."""
    await gw.delete(who, video_id)
    return VideoDeleted(id=video_id)
