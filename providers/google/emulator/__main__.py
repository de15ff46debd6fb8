"""`python -m videoprovider_google.emulator --port 0`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio

from videoprovider.testing.emulator import serve_until_signalled

from .service import API, EmulatorConfig, GoogleService


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m videoprovider_google.emulator",
        description="A Gemini API (Veo video operations) server on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="accepted key (repeatable; default: any non-empty key)",
    )
    parser.add_argument("--operation-seconds", type=float, default=60.0)
    parser.add_argument("--video-base-url", default=None, help="serve result URIs from there")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        api_keys=tuple(args.api_keys) if args.api_keys else None,
        operation_seconds=args.operation_seconds,
        video_base_url=args.video_base_url,
        seed=args.seed,
    )
    service = GoogleService(config)

    def announce(url: str) -> None:
        service.base_url = url
        print(f"{url}{API}", flush=True)

    asyncio.run(serve_until_signalled(service.handle, args.host, args.port, None, announce))


if __name__ == "__main__":
    main()
