"""A gateway process for the tests: `create_app` on uvicorn, on a clock the requests move.

Run as `python launcher.py CONFIG TICK`. It listens on a free port of 127.0.0.1 and prints
`port N` once uvicorn has started, so the test reads one line instead of waiting for time.
Time stands still (HeldClock) except that every request moves it TICK seconds: the callers'
polls are what let the fake provider's tasks progress, so no test depends on real time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from videoprovider.config import load_config
from videoprovider.server import create_app
from videoprovider.testing.clocks import HeldClock


class Tick:
    def __init__(self, app: ASGIApp, clock: HeldClock, seconds: float) -> None:
        self.app, self.clock, self.seconds = app, clock, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.clock.advance(self.seconds)
        await self.app(scope, receive, send)


async def main(config_path: str, tick: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("videoprovider.server").setLevel(logging.INFO)
    clock = HeldClock()
    app = create_app(load_config(config=config_path), clock=clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(Tick(app, clock, tick), log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0)  # a yield to the server starting up, not a wait for time
    print(f"port {sock.getsockname()[1]}", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
