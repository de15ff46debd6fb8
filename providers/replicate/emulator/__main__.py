"""`python -m videoprovider_replicate.emulator --port 0`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio

from videoprovider.testing.emulator import serve_until_signalled

from .service import EmulatorConfig, ReplicateService


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m videoprovider_replicate.emulator",
        description="A Replicate-protocol server on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-token",
        action="append",
        dest="api_tokens",
        help="accepted token (repeatable; default: any non-empty token)",
    )
    parser.add_argument(
        "--prediction-seconds", type=float, default=60.0, help="median run time in seconds"
    )
    parser.add_argument(
        "--sigma", type=float, default=0.0, help="log-normal spread of durations (0: all equal)"
    )
    parser.add_argument("--retention", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        api_tokens=tuple(args.api_tokens) if args.api_tokens else None,
        prediction_seconds=args.prediction_seconds,
        sigma=args.sigma,
        retention=args.retention,
        seed=args.seed,
    )
    service = ReplicateService(config)

    def announce(url: str) -> None:
        service.base_url = url
        print(f"{url}/v1", flush=True)

    asyncio.run(serve_until_signalled(service.handle, args.host, args.port, None, announce))


if __name__ == "__main__":
    main()
