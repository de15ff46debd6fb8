"""Errors on the wire: OpenAI's envelope, the right status, and Retry-After where it applies.

The openai clients retry 408, 409, 429 and 5xx unless the answer says `x-should-retry:
false`; an error that repeating cannot fix says so, so a client does not pay for nothing.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors as e
from .wire import ErrorBody, ErrorDetail

__all__ = ["ApiError", "from_provider_error", "install_handlers"]


class ApiError(Exception):
    """An answer other than success: status, OpenAI error type, the parameter and a code."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.retry = retry

    def response(self) -> JSONResponse:
        body = ErrorBody(
            error=ErrorDetail(
                message=self.message, type=self.type, param=self.param, code=self.code
            )
        )
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        if self.retry is not None:
            headers["x-should-retry"] = "true" if self.retry else "false"
        return JSONResponse(body.model_dump(), status_code=self.status, headers=headers)


def not_found(video_id: str) -> ApiError:
    return ApiError(
        404,
        f"No video with id {video_id!r}. Check the id; a caller sees only its own videos.",
        param="video_id",
        code="video_not_found",
    )


def from_provider_error(exc: e.VideoProviderError) -> ApiError:
    """The answer for an error the library raised while serving a request."""
    text = f"{exc.message} {exc.hint}".strip()
    code = exc.code
    if isinstance(exc, e.RequestRejected):
        return ApiError(400, text, param=_param(exc.field), code=code or "invalid_value")
    if isinstance(exc, e.ConfigurationError):
        return ApiError(400, text, code=code or "invalid_configuration", retry=False)
    if isinstance(exc, e.UnsupportedOperation):
        return ApiError(409, text, code="unsupported_operation", retry=False)
    if isinstance(exc, e.TaskNotFound):
        return ApiError(404, text, code="video_not_found")
    if isinstance(exc, e.TaskNotReady):
        return ApiError(409, text, code="video_not_ready", retry=False)
    if isinstance(exc, e.RateLimited):
        return ApiError(
            429,
            text,
            type="rate_limit_error",
            code="provider_throttled",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, e.ProviderUnavailable):
        return ApiError(503, text, type="server_error", code="provider_unavailable", retry_after=10)
    if isinstance(exc, (e.AuthenticationError, e.AccountError)):
        # The provider refused the gateway's own credentials: the caller can do nothing.
        return ApiError(502, text, type="server_error", code="provider_auth_failed", retry=False)
    if isinstance(exc, e.SubmitOutcomeUnknown):
        return ApiError(502, text, type="server_error", code="submit_outcome_unknown", retry=False)
    return ApiError(502, text, type="server_error", code=code or "provider_error")


def _param(field: str | None) -> str | None:
    # The caller speaks OpenAI's names; the library names VideoRequest's fields.
    return {"duration": "seconds", "image_url": "input_reference"}.get(field or "", field)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.VideoProviderError)
    return from_provider_error(exc).response()


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first: dict[str, Any] = next(iter(exc.errors()), {})
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    message = f"{param or 'request'}: {first.get('msg', 'invalid')}."
    return ApiError(400, message, param=param, code="invalid_value", retry=False).response()


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
    return ApiError(exc.status_code, str(exc.detail), type=kind).response()


def install_handlers(app: Any) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(e.VideoProviderError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
