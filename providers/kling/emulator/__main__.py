"""`python -m videoprovider_kling.emulator --port 0`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio

from videoprovider.testing.emulator import serve_until_signalled

from .service import (
    TEST_ACCESS_KEY,
    TEST_API_KEY,
    TEST_SECRET_KEY,
    EmulatorConfig,
    KlingService,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m videoprovider_kling.emulator",
        description="A Kling-protocol server on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--access-key", default=TEST_ACCESS_KEY)
    parser.add_argument("--secret-key", default=TEST_SECRET_KEY)
    parser.add_argument("--api-key", default=TEST_API_KEY)
    parser.add_argument(
        "--seconds", type=float, default=None, help="run time of every task kind, in seconds"
    )
    args = parser.parse_args(argv)
    config = EmulatorConfig(keys={args.access_key: args.secret_key}, api_keys=(args.api_key,))
    if args.seconds is not None:
        config.seconds = {kind: args.seconds for kind in config.seconds}
    service = KlingService(config)

    def announce(url: str) -> None:
        service.base_url = url
        print(url, flush=True)

    asyncio.run(serve_until_signalled(service.handle, args.host, args.port, None, announce))


if __name__ == "__main__":
    main()
