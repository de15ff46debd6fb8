"""How many task queries per second the DashScope emulator answers.

    python benchmarks/emulator_throughput.py [--seconds 5] [--connections 32] [--processes 2]

Starts the emulator in a subprocess (query limit off, recording off), drives it with
keep-alive HTTP/1.1 clients (h11 on asyncio streams, lighter than httpx, which would be the
bottleneck) in separate processes, and prints requests per second. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import h11

from videoprovider_dashscope.emulator import run_subprocess

KEY = "sk-test-bench"


async def _client(host: str, port: int, deadline: float, task_id: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=f"/api/v1/tasks/{task_id}",
        headers=[("Host", host), ("Authorization", f"Bearer {KEY}")],
    )
    done = 0
    while time.monotonic() < deadline:
        writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
        while not isinstance(event := conn.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
        conn.start_next_cycle()
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
