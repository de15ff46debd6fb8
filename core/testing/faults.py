"""An httpx transport that records every request and injects faults: the kit's network.

`FaultTransport(inner)` passes requests to `inner` (your MockTransport, or httpx's own
transport to your loopback emulator) and records them; `fail(...)` arms a fault for the next
matching request. Faults act where real networks fail: before anything is sent, after the
request reached the server, or in the reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from ..clock import Clock

__all__ = ["Fault", "FaultTransport", "Seen"]

FaultKind = Literal["connect", "drop_after_send", "read_timeout", "500", "429", "malformed"]


@dataclass
class Fault:
    """What goes wrong, and for which requests (`match` gets each request; None: any)."""

    kind: FaultKind
    match: Callable[[httpx.Request], bool] | None = None
    count: int = 1
    retry_after: float = 2.0


@dataclass(frozen=True)
class Seen:
    """One request as the transport saw it; `at` is the clock's monotonic time."""

    method: str
    url: str
    body: bytes
    at: float
    fault: FaultKind | None


@dataclass
class FaultTransport(httpx.AsyncBaseTransport):
    inner: httpx.AsyncBaseTransport
    clock: Clock | None = None
    seen: list[Seen] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fail(self, fault: Fault) -> None:
        self.faults.append(fault)

    def reached_server(self) -> list[Seen]:
        """The requests that got to the server (everything but connect faults)."""
        return [s for s in self.seen if s.fault != "connect"]

    def _take(self, request: httpx.Request) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and (fault.match is None or fault.match(request)):
                fault.count -= 1
                return fault
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        fault = self._take(request)
        now = self.clock.monotonic() if self.clock is not None else 0.0
        self.seen.append(
            Seen(request.method, str(request.url), body, now, fault.kind if fault else None)
        )
        if fault is None:
            return await self.inner.handle_async_request(request)
        if fault.kind == "connect":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if fault.kind == "500":
            return httpx.Response(500, json={"code": "InternalError", "message": "injected"})
        if fault.kind == "429":
            return httpx.Response(
                429,
                headers={"Retry-After": f"{fault.retry_after:g}"},
                json={"code": "Throttling", "message": "injected"},
            )
        if fault.kind == "malformed":
            return httpx.Response(
                200, content=b'{"output": {', headers={"Content-Type": "application/json"}
            )
        # The server received and acted on the request; the reply is lost.
        response = await self.inner.handle_async_request(request)
        await response.aclose()
        if fault.kind == "read_timeout":
            raise httpx.ReadTimeout("injected: no reply in time", request=request)
        raise httpx.RemoteProtocolError("injected: connection dropped", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()
