"""`python -m videoprovider_fal.emulator --port 0`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio

from videoprovider.testing.emulator import serve_until_signalled

from .service import EmulatorConfig, FalService


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m videoprovider_fal.emulator",
        description="A fal-queue server on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted key (repeatable)"
    )
    parser.add_argument("--queue-seconds", type=float, default=10.0)
    parser.add_argument("--run-seconds", type=float, default=50.0)
    args = parser.parse_args(argv)
    service = FalService(
        EmulatorConfig(
            api_keys=tuple(args.api_keys) if args.api_keys else None,
            queue_seconds=args.queue_seconds,
            run_seconds=args.run_seconds,
        )
    )

    def announce(url: str) -> None:
        service.base_url = url
        print(url, flush=True)

    asyncio.run(serve_until_signalled(service.handle, args.host, args.port, None, announce))


if __name__ == "__main__":
    main()
