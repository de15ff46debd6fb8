"""`python -m videoprovider_dashscope.emulator --port 0`: serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import ssl

from videoprovider.testing.emulator import serve_until_signalled

from .events import DEFAULT_TOKEN, TOKEN_HEADER
from .service import DashScopeService, EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m videoprovider_dashscope.emulator",
        description="A DashScope-protocol server on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="accepted key (repeatable; default: any non-empty key)",
    )
    parser.add_argument(
        "--task-seconds", type=float, default=90.0, help="median task duration in emulated seconds"
    )
    parser.add_argument(
        "--sigma", type=float, default=0.0, help="log-normal spread of durations (0: all equal)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="emulated seconds per real second (100 compresses 90 s to 0.9 s)",
    )
    parser.add_argument("--retention", type=float, default=86400.0)
    parser.add_argument(
        "--qps-limit", type=float, default=20.0, help="task queries per second per key; 0 disables"
    )
    parser.add_argument("--no-record", action="store_true", help="count requests only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--tls-key", help="the certificate's PEM private key")
    events = parser.add_argument_group(
        "completion events", "POST an AsyncTaskFinish CloudEvent to a URL when a task ends"
    )
    events.add_argument("--events-url", help="where to POST events (default: none sent)")
    events.add_argument("--events-token", default=DEFAULT_TOKEN, help="the token sent")
    events.add_argument("--events-header", default=TOKEN_HEADER, help="the header it goes in")
    events.add_argument(
        "--events-delay", type=float, default=0.0, help="emulated seconds after the task ends"
    )
    events.add_argument("--events-twice", action="store_true", help="deliver each event twice")
    events.add_argument(
        "--events-drop", type=float, default=0.0, help="share of events lost on purpose (0-1)"
    )
    args = parser.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    config = EmulatorConfig(
        api_keys=tuple(args.api_keys) if args.api_keys else None,
        task_seconds=args.task_seconds,
        sigma=args.sigma,
        time_scale=args.time_scale,
        retention=args.retention,
        qps_limit=args.qps_limit or None,
        record=not args.no_record,
        seed=args.seed,
        events_url=args.events_url,
        events_token=args.events_token or None,
        events_header=args.events_header,
        events_delay=args.events_delay,
        events_twice=args.events_twice,
        events_drop=args.events_drop,
    )
    service = DashScopeService(config)

    def announce(url: str) -> None:
        service.base_url = url
        print(url, flush=True)

    asyncio.run(serve_until_signalled(service.handle, args.host, args.port, tls, announce))


if __name__ == "__main__":
    main()
