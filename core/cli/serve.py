"""`videoprovider serve`: the video gateway, and `serve keys` for its callers' keys.

The gateway lives in `videoprovider.server` and needs the `server` extra; it is imported only
when one of these commands runs, so the rest of the CLI works without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .app import State, run

if TYPE_CHECKING:
    from ..config import Config
    from ..server.settings import ServerSettings

EXTRA = 'pip install "videoprovider[server]"'


def _server_settings(config_path: Path | None, **args: Any) -> tuple[Config, ServerSettings]:
    import os

    from ..config import load_config
    from ..errors import ConfigurationError

    try:
        import fastapi  # noqa: F401 - the extra's packages, checked before anything starts
        import uvicorn  # noqa: F401

        from ..server.settings import CONFIG_ENV, FILE_NAME, server_settings
    except ImportError as exc:
        raise ConfigurationError(
            f"The gateway needs the server extra ({exc.name} is not installed).",
            hint=f"Install it: {EXTRA}",
        ) from None
    config = load_config(config=config_path)
    # A file found in the working directory, not named by the user, may have come with a
    # cloned repository.
    found_in_cwd = config.file is not None and config.file.resolve() == (
        (Path.cwd() / FILE_NAME).resolve()
    )
    trusted = config_path is not None or bool(os.environ.get(CONFIG_ENV)) or not found_in_cwd
    settings = server_settings(
        config, {k: v for k, v in args.items() if v is not None}, trusted=trusted
    )
    return config, settings


def _global_config_option() -> bool:
    """Whether every command already takes a global `--config FILE` (which then names the
    file through VIDEOPROVIDER_CONFIG); these commands add their own only where not."""
    from .app import global_options

    probe = global_options(click.Command("probe"))
    return any("--config" in getattr(p, "opts", ()) for p in probe.params)


def _config_option(fn: Any) -> Any:
    if _global_config_option():
        return fn
    return click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The config file (its [server] section configures the gateway).",
    )(fn)


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (default 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes to run.")
@_config_option
@click.pass_context
def serve(
    ctx: click.Context,
    /,
    host: str | None,
    port: int | None,
    workers: int,
    config_path: Path | None = None,
) -> None:
    """Run the video gateway: OpenAI's /v1/videos for every provider (docs/gateway.md)."""
    if ctx.invoked_subcommand is not None:
        ctx.meta["videoprovider.server.config"] = config_path
        return
    state = ctx.ensure_object(State)

    def body() -> None:
        config, settings = _server_settings(config_path, host=host, port=port)
        from ..server.run import serve as run_server

        state.say(f"videoprovider gateway on http://{settings.host}:{settings.port}")
        run_server(config, settings, workers=workers)

    run(state, body)


@serve.group()
def keys() -> None:
    """Caller keys: each with a name, what it may use, a request rate and a spending cap."""


def _store(ctx: click.Context, config_path: Path | None) -> Any:
    from ..server.store import Store

    _, settings = _server_settings(config_path or ctx.meta.get("videoprovider.server.config"))
    return Store(settings.database_url())


@keys.command("create")
@click.argument("name")
@click.option(
    "--allow-provider", "providers", multiple=True, help="A provider it may use (repeat)."
)
@click.option("--allow-model", "models", multiple=True, help="A model it may use (repeat).")
@click.option("--rate", "rate_per_minute", type=int, help="Requests per minute.")
@click.option("--max-spend", help='Estimated spending per period, e.g. "5 USD".')
@click.option("--spend-period", type=click.Choice(["hour", "day", "week", "month"]), default="day")
@click.option("--print-config", is_flag=True, help="Store nothing; print a [[server.keys]] table.")
@_config_option
@click.pass_context
def create_key(
    ctx: click.Context,
    /,
    name: str,
    print_config: bool,
    config_path: Path | None = None,
    **limits: Any,
) -> None:
    """Make a key for caller NAME; it is shown once, only its hash is kept."""
    state = ctx.ensure_object(State)

    def body() -> None:
        from datetime import datetime, timezone

        from ..server.callers import key_row, new_key
        from ..server.settings import KeySettings

        key = new_key()
        row = key_row(name, key, datetime.now(timezone.utc), **limits)
        KeySettings(name=name, hash=row.hash, **{k: v for k, v in limits.items() if v})
        if print_config:
            table = {k: v for k, v in vars(row).items() if k not in ("created_ms", "revoked_ms")}
            lines = ["[[server.keys]]"] + [
                f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}"
                for k, v in table.items()
                if v not in (None, ())
            ]
            state.show("\n".join(lines), table)
        else:
            store = _store(ctx, config_path)
            try:
                store.add_key(row)
            finally:
                store.close()
        state.say("the key (shown only now; give it to the caller):")
        state.show(key, {"name": name, "key": key})

    run(state, body)


@keys.command("list")
@_config_option
@click.pass_context
def list_keys(ctx: click.Context, /, config_path: Path | None = None) -> None:
    """The keys in the gateway's store (names and limits, never the keys)."""
    state = ctx.ensure_object(State)

    def body() -> None:
        store = _store(ctx, config_path)
        try:
            rows = [{k: v for k, v in vars(r).items() if k != "hash"} for r in store.key_rows()]
        finally:
            store.close()
        text = (
            "\n".join(f"{r['name']}{' (revoked)' if r['revoked_ms'] else ''}" for r in rows)
            or "no keys in the store"
        )
        state.show(text, rows)

    run(state, body)


@keys.command("revoke")
@click.argument("name")
@_config_option
@click.pass_context
def revoke_key(ctx: click.Context, /, name: str, config_path: Path | None = None) -> None:
    """Revoke caller NAME's key at once."""
    state = ctx.ensure_object(State)

    def body() -> int:
        import time

        store = _store(ctx, config_path)
        try:
            done = store.revoke_key(name, int(time.time() * 1000))
        finally:
            store.close()
        state.show("revoked" if done else f"no active key named {name!r}", {"revoked": done})
        return 0 if done else 1

    run(state, body)


COMMANDS = (serve,)
