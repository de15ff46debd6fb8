"""How many task queries per second the DashScope emulator answers.

    python benchmarks/emulator_throughput.py [--seconds 5] [--connections 32] [--processes 2]

Starts the emulator in a subprocess (query limit off, recording off), drives it with
keep-alive HTTP/1.1 clients written on raw asyncio streams in separate processes (httpx
itself would be the bottleneck), and prints requests per second. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

from videoprovider_dashscope.emulator import run_subprocess

KEY = "sk-test-bench"


async def _client(host: str, port: int, deadline: float, task_id: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET /api/v1/tasks/{task_id} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {KEY}\r\n\r\n"
    ).encode()
    done = 0
    while time.monotonic() < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        done += 1
    writer.close()
    return done


def _worker(args: tuple[str, int, float, int]) -> int:
    host, port, seconds, connections = args

    async def run() -> int:
        deadline = time.monotonic() + seconds
        counts = await asyncio.gather(
            *(_client(host, port, deadline, f"t{i}") for i in range(connections))
        )
        return sum(counts)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    with run_subprocess("--qps-limit", "0", "--no-record") as emu:
        host, port = emu.base_url.removeprefix("http://").split(":")
        with multiprocessing.Pool(args.processes) as pool:
            total = sum(
                pool.map(
                    _worker, [(host, int(port), args.seconds, args.connections)] * args.processes
                )
            )
        stats = emu.stats()
    print(
        f"{total / args.seconds:,.0f} requests/s over {args.seconds:g} s "
        f"({args.processes} client process(es) x {args.connections} connections; "
        f"emulator counted {stats['total']}, peak {stats['peak_rps']}/s)"
    )


if __name__ == "__main__":
    main()
