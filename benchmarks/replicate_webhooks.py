"""Many Replicate predictions through `as_completed`, polled, then with webhooks on.

    python benchmarks/replicate_webhooks.py [--n 1000] [--seconds 4]

Runs the Replicate emulator in a thread on the real clock (predictions of median `--seconds`,
log-normal sigma 0.5) and one `AsyncVideoClient` that submits N predictions and waits for
them with `as_completed`, twice: polling only, and with `webhook_url` pointing at
`videoprovider.webhooks.asgi_app` served by uvicorn in the client's own event loop. Reports
the status polls the emulator saw, the busiest second of polls against the provider's
budget (Replicate documents 3,000 requests a minute: 50 a second), how many deliveries
ended tasks, and the lag from a prediction's end to the client's return. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from collections import deque
from typing import Any

TOKEN = "sk-test-benchmark"


def busiest_second(times: list[float]) -> int:
    window: deque[float] = deque()
    best = 0
    for t in sorted(times):
        window.append(t)
        while window[0] <= t - 1.0:
            window.popleft()
        best = max(best, len(window))
    return best


async def run(n: int, seconds: float, webhooks: bool) -> dict[str, Any]:
    import uvicorn

    from videoprovider import AsyncVideoClient
    from videoprovider.webhooks import asgi_app
    from videoprovider_replicate.emulator import EmulatorConfig, run_in_thread

    config = EmulatorConfig(api_tokens=(TOKEN,), prediction_seconds=seconds, sigma=0.5, seed=7)
    listening = socket.create_server(("127.0.0.1", 0))
    settings: dict[str, Any] = {}
    if webhooks:
        settings["webhook_url"] = f"http://127.0.0.1:{listening.getsockname()[1]}/hooks"
    with run_in_thread(config) as emulator:
        async with AsyncVideoClient(
            "replicate",
            config=False,
            environ={},
            journal=False,
            api_token=TOKEN,
            base_url=emulator.base_url,
            schema_cache_dir="",
            # Predictions of a few seconds: start the poll policy from that, as a client
            # that had learned from its journal would.
            poll_typical_seconds=seconds,
            poll_interval=0.5,
            **settings,
        ) as client:
            server = uvicorn.Server(
                uvicorn.Config(asgi_app(client), log_level="warning", lifespan="off")
            )
            serving = asyncio.create_task(server.serve(sockets=[listening]))
            start = time.monotonic()
            gate = asyncio.Semaphore(32)

            async def submit(i: int) -> Any:
                async with gate:
                    return await client.submit(f"scene {i}", duration=5)

            tasks = await asyncio.gather(*(submit(i) for i in range(n)))
            returned: dict[str, float] = {}
            async for outcome in client.as_completed(tasks, timeout=600):
                returned[outcome.task.task_id] = time.monotonic()
            wall = time.monotonic() - start
            server.should_exit = True
            await serving
        service = emulator.service
        polls = [r.at for r in service.requests if r.method == "GET" and "/predictions/" in r.path]
        ends = {p.id: p.created + p.duration for p in service.predictions.values()}
        deliveries = len(service.webhooks.deliveries)
    lags = [max(0.0, returned[t] - ends[t]) for t in returned if ends.get(t) is not None]
    return {
        "mode": "webhooks" if webhooks else "polling",
        "n": n,
        "completed": len(returned),
        "wall_s": wall,
        "status_polls": len(polls),
        "polls_per_task": len(polls) / max(1, n),
        "busiest_second": busiest_second(polls),
        "budget": 50,
        "deliveries": deliveries,
        "lag_median_s": statistics.median(lags) if lags else None,
        "lag_p95_s": sorted(lags)[int(0.95 * (len(lags) - 1))] if lags else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    rows = [asyncio.run(run(args.n, args.seconds, webhooks)) for webhooks in (False, True)]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        cells = [f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    saved = rows[0]["status_polls"] - rows[1]["status_polls"]
    print(f"\nwebhooks saved {saved} status polls ({saved / max(1, rows[0]['status_polls']):.0%})")
    sys.exit(0 if all(r["busiest_second"] <= r["budget"] for r in rows) else 1)


if __name__ == "__main__":
    main()
