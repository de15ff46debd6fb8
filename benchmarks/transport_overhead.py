"""CPU per status request: httpx's default transport against KeepAliveTransport.

    python benchmarks/transport_overhead.py [--requests 4000] [--concurrency 8]

Both run in this process, one after the other, through the same `httpx.AsyncClient` setup
against a DashScope emulator in a separate process on 127.0.0.1, polling one task. Prints
client CPU microseconds per request and the ratio. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from videoprovider.transport import KeepAliveTransport
from videoprovider_dashscope.emulator import run_subprocess

KEY = "sk-test-benchmark"


async def cpu_per_request(
    base: str, task_id: str, transport: httpx.AsyncBaseTransport | None, n: int, c: int
) -> float:
    async with httpx.AsyncClient(
        base_url=f"{base}/api/v1",
        headers={"Authorization": f"Bearer {KEY}"},
        transport=transport,
        limits=httpx.Limits(max_connections=c),
    ) as http:
        gate = asyncio.Semaphore(c)

        async def one() -> None:
            async with gate:
                reply = await http.get(f"/tasks/{task_id}")
                reply.json()

        await one()  # connect outside the measurement
        start = time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with run_subprocess("--api-key", KEY, "--no-record") as emu:
        submitted = httpx.post(
            f"{emu.base_url}/api/v1/services/aigc/video-generation/video-synthesis",
            json={"model": "wan2.6-t2v", "input": {"prompt": "a cat"}},
            headers={"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"},
        )
        task_id = submitted.json()["output"]["task_id"]
        n, c = args.requests, args.concurrency
        default = asyncio.run(cpu_per_request(emu.base_url, task_id, None, n, c))
        lean = asyncio.run(
            cpu_per_request(emu.base_url, task_id, KeepAliveTransport(max_connections=c), n, c)
        )
    print(f"{n} GETs, {c} at a time\n")
    print("| transport | CPU us per request |\n|---|---|")
    print(f"| httpx default (httpcore) | {default:.0f} |")
    print(f"| KeepAliveTransport | {lean:.0f} |")
    print(f"\nKeepAliveTransport uses {default / lean:.1f}x less CPU per request.")


if __name__ == "__main__":
    main()
