"""The `videoprovider` command: a terminal front end over VideoClient.

Exit codes (also in `--help` and docs/cli.md): 0 success; 1 the task failed or was rejected;
2 usage or configuration error; 3 operation unsupported by the provider; 4 timed out waiting;
5 provider unreachable, throttled or authentication failed.

Heavy imports happen inside commands so `videoprovider --help` starts fast.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .errors import VideoProviderError
    from .models import TaskStatus

EXIT_CODES = """\b
Exit codes:
  0  success
  1  the task failed or the request was rejected (content, parameters)
  2  usage or configuration error
  3  operation not supported by the provider (nothing was sent)
  4  timed out waiting (the task id is printed; run `wait` again)
  5  provider unreachable, throttled, or authentication failed"""


def exit_code_for(exc: VideoProviderError) -> int:
    from . import errors as e

    table: list[tuple[type[e.VideoProviderError], int]] = [
        (e.UnsupportedOperation, 3),
        (e.WaitTimeout, 4),
        (e.ConfigurationError, 2),
        (e.AuthenticationError, 5),
        (e.RateLimited, 5),
        (e.ProviderUnavailable, 5),
        (e.SubmitOutcomeUnknown, 5),
        (e.ProtocolError, 5),
    ]
    return next((code for cls, code in table if isinstance(exc, cls)), 1)


class _Ctx:
    def __init__(self, provider: str | None, debug: bool, quiet: bool) -> None:
        self.provider = provider
        self.debug = debug
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            click.echo(message, err=True)


def _run(ctx: _Ctx, body: Callable[[], int | None]) -> None:
    """Run a command body, turning expected errors into a message and an exit code."""
    from .errors import VideoProviderError

    try:
        code = body() or 0
    except VideoProviderError as exc:
        if ctx.debug:
            raise
        click.echo(f"error: {exc}", err=True)
        code = exit_code_for(exc)
    except Exception as exc:
        from pydantic import ValidationError

        if not isinstance(exc, ValidationError) or ctx.debug:
            raise
        for err in exc.errors():
            field = ".".join(str(x) for x in err["loc"]) or "request"
            click.echo(f"error: --{field.replace('_', '-')}: {err['msg']}", err=True)
        code = 2
    sys.exit(code)


@click.group(
    name="videoprovider",
    epilog=EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--provider",
    "-p",
    metavar="NAME",
    help="Provider to use for this call (default: VIDEOPROVIDER_PROVIDER or config).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--quiet", "-q", is_flag=True, help="Print only results, no progress.")
@click.version_option(package_name="videoprovider", prog_name="videoprovider")
@click.pass_context
def main(click_ctx: click.Context, provider: str | None, debug: bool, quiet: bool) -> None:
    """Generate AI videos with any installed provider (offline `fake` by default)."""
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    click_ctx.obj = _Ctx(provider, debug, quiet)


def _request_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One option per VideoRequest field, so the CLI cannot drift from the model."""
    from .models import VideoRequest

    for name, info in reversed(list(VideoRequest.model_fields.items())):
        if name in ("prompt", "extra"):
            continue
        flag = name.replace("_", "-")
        args = typing.get_args(info.annotation) or (info.annotation,)
        kind = next(a for a in args if a is not type(None))
        if kind is bool:
            fn = click.option(f"--{flag}/--no-{flag}", name, default=None, help=info.description)(
                fn
            )
        else:
            fn = click.option(f"--{flag}", name, type=kind, default=None, help=info.description)(fn)
    return click.option(
        "--extra",
        "extra",
        multiple=True,
        metavar="KEY=VALUE",
        help="Provider-specific field (VALUE parsed as JSON if it can be).",
    )(fn)


def _parse_extra(pairs: tuple[str, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--extra")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return extra


@main.command()
@click.argument("prompt")
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(dir_okay=True),
    help="File (or directory) to save the video to.",
)
@click.option("--timeout", type=float, default=None, help="Seconds to wait for the video.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@_request_options
@click.pass_obj
def generate(
    ctx: _Ctx,
    /,
    prompt: str,
    out: str,
    timeout: float | None,
    overwrite: bool,
    extra: tuple[str, ...],
    **fields: Any,
) -> None:
    """Generate a video from PROMPT and save it to --out."""

    def body() -> int:
        from .client import DEFAULT
        from .hookspecs import hookimpl
        from .models import VideoRequest
        from .sync import VideoClient

        request = VideoRequest(
            prompt=prompt,
            extra=_parse_extra(extra),
            **{k: v for k, v in fields.items() if v is not None},
        )
        seen: dict[str, str] = {}

        class Remember:
            @hookimpl
            def videoprovider_task_submitted(self, task: Any) -> None:
                seen["task_id"] = task.task_id
                ctx.say(f"submitted task {task.task_id} to {task.provider}")

        def progress(status: TaskStatus) -> None:
            ctx.say(f"  {status.state.value.lower():<10} {status.progress:>3}%")

        with VideoClient(ctx.provider, plugins=[Remember()]) as client:
            try:
                video = client.generate(
                    request,
                    out,
                    timeout=DEFAULT if timeout is None else timeout,
                    on_progress=progress,
                    overwrite=overwrite,
                )
            except KeyboardInterrupt:
                if "task_id" in seen:
                    click.echo(
                        f"\nstopped waiting; task {seen['task_id']} is still running at "
                        f"{client.provider_name} and was not canceled.",
                        err=True,
                    )
                raise SystemExit(130) from None
        click.echo(video.path)
        return 0

    _run(ctx, body)


@main.command()
@click.pass_obj
def providers(ctx: _Ctx, /) -> None:
    """List installed providers, their capabilities and whether they are configured."""

    def body() -> int:
        from .config import load_config
        from .errors import VideoProviderError
        from .plugins import list_providers
        from .provider import Operation

        config = None
        selected = ctx.provider
        try:
            config = load_config()
            selected = ctx.provider or config.core.provider
        except VideoProviderError:
            pass
        for info in list_providers():
            mark = "*" if info.name == selected else " "
            if info.error:
                click.echo(f"{mark} {info.name:<12} BROKEN: {info.error}")
                continue
            caps = ", ".join(op.value for op in Operation if op in info.capabilities)
            state = "configured"
            if config is not None and info.provider_class is not None:
                try:
                    config.resolve_provider(info.name, info.provider_class.Settings, {})
                except VideoProviderError as exc:
                    state = f"not configured ({exc.message})"
            click.echo(
                f"{mark} {info.name:<12} {caps:<28} {state}"
                + (f"  [{info.distribution}]" if info.distribution else "")
            )
        return 0

    _run(ctx, body)


if __name__ == "__main__":  # pragma: no cover
    main()
