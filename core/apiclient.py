"""The httpx client a provider uses to call its service's API, and bounded reads of its replies.

httpx does the HTTP (httpcore and h11 parse it, bound response heads at 100 KiB and honour
every timeout); this module only chooses how the client is built and how much of a reply is
read. It passes no transport unless the provider's context has one (tests hand in an
`httpx.MockTransport`), because httpx applies the environment's proxies (`HTTPS_PROXY`,
`HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) and CA settings (`SSL_CERT_FILE`, `SSL_CERT_DIR`) only
to the transports it builds itself.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from .provider import ProviderContext
from .usage import RequestCounts

__all__ = [
    "MAX_API_BYTES",
    "MAX_JSON_DEPTH",
    "APIClient",
    "ResponseTooLarge",
    "api_client",
    "describe",
    "is_loopback",
    "is_video_url",
    "parse_json",
    "read_bounded",
    "reply_context",
    "send_bounded",
]

# No reply or delivery of any provider nests this deep; a document that does is hostile, and
# recursive code reading it (ours, json, pydantic, repr) would hit Python's recursion limit.
MAX_JSON_DEPTH = 64

# API replies are JSON documents of a few KB (a DashScope task is under 2 KB). A reply far
# larger is a broken or hostile server, and reading it whole would hold it all in memory.
MAX_API_BYTES = 4 * 1024 * 1024


class ResponseTooLarge(httpx.RemoteProtocolError):
    """A reply's body passed the limit; reading stopped there.

    A RemoteProtocolError, so code that treats any `httpx.HTTPError` after sending as "the
    request may have landed" (the submit rule) stays right without knowing of this class.
    """


class APIClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose `send_bounded` calls wait their turn in `gate`, and are
    counted in `requests` when it is set (core/usage.py).

    httpcore's pool looks at every queued request and every connection each time it assigns
    one, so thousands of polls queued on a few connections cost CPU in proportion to the
    queue on every request (most of the client's CPU when 10,000 tasks are tracked). Waiting
    on a semaphore sized to the pool instead keeps httpcore's queue empty, and costs O(1).
    """

    def __init__(
        self, *, max_concurrent: int, requests: RequestCounts | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.gate = anyio.Semaphore(max_concurrent)
        self.requests = requests


def api_client(
    context: ProviderContext,
    *,
    base_url: str,
    headers: Mapping[str, str],
    timeout: httpx.Timeout,
    max_connections: int = 8,
) -> APIClient:
    """An httpx client for a provider's API: the environment's proxies and CAs apply.

    `context.transport`, when set, replaces the network (and with it the proxies). Its
    requests are counted in `context.requests`.
    """
    return APIClient(
        max_concurrent=max_connections,
        requests=context.requests,
        base_url=base_url,
        headers=dict(headers),
        timeout=timeout,
        transport=context.transport,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )


async def read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    """Read a streamed reply's decoded body, raising ResponseTooLarge past `max_bytes`.

    The limit applies to the decoded bytes, so a small compressed body cannot expand past it.
    """
    declared = response.headers.get("content-length", "")
    identity = "content-encoding" not in response.headers
    if identity and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(
            f"the reply declares {declared} bytes, over the limit of {max_bytes} bytes",
            request=response.request,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(
                f"the reply passed the limit of {max_bytes} bytes; reading stopped",
                request=response.request,
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def send_bounded(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL | str,
    *,
    max_bytes: int = MAX_API_BYTES,
    **kwargs: Any,
) -> httpx.Response:
    """`client.request(method, url, **kwargs)`, reading at most `max_bytes` of the reply.

    Returns a complete response (`.json()`, `.text` work as usual) whose body is the decoded
    bytes; its headers no longer claim an encoding or length of their own.
    """
    request = client.build_request(method, url, **kwargs)
    if isinstance(client, APIClient):
        async with _turn(client, request):
            if client.requests is None:
                return await _send(client, request, max_bytes)
            client.requests.sending()
            response = await _send(client, request, max_bytes)
            client.requests.answered(response.status_code)
            return response
    return await _send(client, request, max_bytes)


@asynccontextmanager
async def _turn(client: APIClient, request: httpx.Request) -> AsyncIterator[None]:
    # The wait counts against the pool timeout, as waiting inside httpcore's pool would, and
    # ends in the same PoolTimeout: a request that never left.
    timeout = client.timeout.pool
    with anyio.move_on_after(timeout) as scope:
        await client.gate.acquire()
    if scope.cancelled_caught:
        raise httpx.PoolTimeout("no connection came free in time", request=request)
    try:
        yield
    finally:
        client.gate.release()


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, max_bytes: int
) -> httpx.Response:
    response = await client.send(request, stream=True)
    try:
        body = await read_bounded(response, max_bytes)
    finally:
        await response.aclose()
    headers = [
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=request,
        extensions=response.extensions,
    )


def reply_context(
    response: httpx.Response, provider: str, operation: str, task_id: str | None
) -> dict[str, Any]:
    """The error keyword arguments (provider, operation, task, status, request id) for a
    fault found in `response`."""
    return {
        "provider": provider,
        "operation": operation,
        "task_id": task_id,
        "http_status": response.status_code,
        "request_id": response.headers.get("x-request-id"),
    }


def parse_json(data: bytes | str) -> Any:
    """`json.loads(data)`, raising ValueError (never RecursionError) for a document that is
    not JSON or nests deeper than MAX_JSON_DEPTH."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:  # iterative: the depth check must not recurse itself
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return doc


def describe(exc: httpx.HTTPError) -> str:
    """`ReadTimeout`, or `RemoteProtocolError: <why>`: an httpx error for a user's message.

    httpx puts no credentials in these messages (they name the failure, not the request).
    """
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def is_video_url(url: str) -> bool:
    """Whether `url` is one a provider may name as a video to download: https, or http to a
    loopback host (an emulator on this machine). `file://`, `data:` and the rest are not."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    if not parts.host:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.host))


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses: where cleartext HTTP is acceptable (an
    emulator on this machine) and downloads from the provider's own host are expected."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
