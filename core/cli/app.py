"""The command group, its global options, output and the mapping of errors to exit codes."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from ..errors import VideoProviderError
    from ..models import Task
    from ..sync import VideoClient

EXIT_CODES = """\b
Exit codes:
  0  success
  1  the task failed or the request was rejected (content, parameters)
  2  usage or configuration error
  3  operation not supported by the provider (nothing was sent)
  4  timed out waiting (the task id is printed; run `wait` again)
  5  provider unreachable, throttled, or authentication failed
  130  interrupted (the task id is printed; the task was not canceled)"""

INTERRUPTED = 130
T = TypeVar("T")


def exit_code_for(exc: VideoProviderError) -> int:
    from .. import errors as e

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


@dataclass
class State:
    """What the global options said, handed to every command."""

    provider: str | None = None
    debug: bool = False
    quiet: bool = False
    json: bool = False
    journal: bool | None = None
    config: str | None = None

    def say(self, message: str) -> None:
        """A message for the human: stderr, silenced by --quiet."""
        if not self.quiet:
            click.echo(message, err=True)

    def show(self, text: str, document: Any) -> None:
        """The result: one JSON document with --json, else `text`; always on stdout."""
        if self.json:
            click.echo(json.dumps(_plain(document), indent=2, sort_keys=True))
        else:
            click.echo(text)

    def client(self, provider: str | None = None, **settings: Any) -> VideoClient:
        from ..sync import VideoClient

        return VideoClient(self.provider or provider, journal=self.journaling(), **settings)

    def journaling(self) -> bool:
        """The CLI journals unless --no-journal, or the journal setting says otherwise."""
        if self.journal is not None:
            return self.journal
        from ..config import load_config

        config = load_config()
        return config.core.journal if config.core_sources["journal"] != "default" else True

    def on_task(self, task: str, call: Callable[[VideoClient, str | Task], T]) -> T:
        """Run `call` with a client for TASK's provider and TASK as the client takes it."""
        provider, ref = self.task(task)
        with self.client(provider) as client:
            return call(client, ref)

    def task(self, value: str) -> tuple[str | None, str | Task]:
        """A TASK argument: a bare id, `provider:task_id`, or the JSON a `submit --json`
        printed; a named provider selects the client unless --provider says otherwise (the
        client then routes the task to its provider)."""
        if not value.lstrip().startswith("{"):
            from ..refs import installed_provider_names, split_ref

            provider, task_id = split_ref(value, installed_provider_names)
            if provider is None:
                return None, task_id
            from ..models import Task

            return provider, Task(provider=provider, task_id=task_id)
        from pydantic import ValidationError

        from ..models import LOCAL_FILES_CONTEXT, Task

        try:  # the user's own task document: its local files are theirs
            task = Task.model_validate_json(value, context=LOCAL_FILES_CONTEXT)
        except ValidationError as exc:
            raise click.BadParameter(
                f"not a task id or task document: {exc.errors()[0]['msg']}", param_hint="TASK"
            ) from None
        return task.provider, task


def _plain(document: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(document, BaseModel):
        return document.model_dump(mode="json")
    if isinstance(document, list):
        return [_plain(d) for d in document]
    if isinstance(document, dict):
        return {k: _plain(v) for k, v in document.items()}
    return document


def run(state: State, body: Callable[[], int | None]) -> None:
    """Run a command body; expected errors become one message and an exit code."""
    from pydantic import ValidationError

    from ..errors import VideoProviderError, end_sentence

    try:
        code = body() or 0
    except VideoProviderError as exc:
        if state.debug:
            raise
        from .hints import cli_hint

        exc.hint = cli_hint(exc)
        click.echo(f"error: {exc}", err=True)
        if state.json:
            error = {
                "type": type(exc).__name__,
                "message": exc.message,
                "hint": exc.hint,
                **exc.context(),
            }
            click.echo(json.dumps({"error": error}, indent=2, sort_keys=True))
        code = exit_code_for(exc)
    except ValidationError as exc:
        if state.debug:
            raise
        from .options import invalid_input

        raise invalid_input(exc) from None
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as exc:
        # A bug, not a user error: still one line (and one JSON document with --json), with
        # the way to the traceback, rather than a traceback the user did not ask for.
        if state.debug:
            raise
        hint = "This is a bug; run again with --debug for the traceback and report it."
        said = end_sentence(f"unexpected {type(exc).__name__}: {exc}")
        click.echo(f"error: {said} {hint}", err=True)
        if state.json:
            error = {"type": type(exc).__name__, "message": str(exc), "hint": hint}
            click.echo(json.dumps({"error": error}, indent=2, sort_keys=True))
        code = 1
    sys.exit(code)


@contextmanager
def interruptible(state: State, task_id: Callable[[], str | None], provider: str) -> Iterator[None]:
    """Ctrl-C stops waiting, never the task: say how to pick it up again."""
    # Even when started with SIGINT ignored (a background job of a script, some CI runners:
    # Python then leaves it ignored, and a wait on a stuck task would never end).
    previous = _catch_sigint()
    try:
        yield
    except KeyboardInterrupt:
        tid = task_id()
        if tid:
            click.echo(
                f"\nstopped waiting; task {tid} is still running at {provider} and was not "
                f"canceled. Resume with: videoprovider --provider {provider} wait {tid}",
                err=True,
            )
        sys.exit(INTERRUPTED)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _catch_sigint() -> Any:
    """Make SIGINT raise KeyboardInterrupt; return the handler to restore (None: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return signal.SIG_DFL if previous is None else previous


def _merge(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Copy a global option the user typed into the State; later (subcommand) values win."""
    state = ctx.ensure_object(State)
    if param.name is None or ctx.get_parameter_source(param.name) in (
        None,
        click.core.ParameterSource.DEFAULT,
    ):
        return
    setattr(state, param.name, value)
    if param.name == "config":
        _name_config_file(ctx, value)
    if param.name == "debug" and value:
        import logging

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


def _name_config_file(ctx: click.Context, path: str) -> None:
    """`--config FILE` is `VIDEOPROVIDER_CONFIG=FILE` for this one command, so every part of
    it (the client, `config show`, the journal commands) reads the same files."""
    from ..trust import CONFIG_ENV

    root = ctx.find_root()
    if "videoprovider.config_env" not in root.meta:
        before = os.environ.get(CONFIG_ENV)
        root.meta["videoprovider.config_env"] = before
        root.call_on_close(lambda: _restore_env(CONFIG_ENV, before))
    os.environ[CONFIG_ENV] = path


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _warnings_as_lines(ctx: click.Context) -> None:
    """Show videoprovider's own warnings (a config file others can read, a corrected URL) as
    one `warning: ...` line on stderr, not Python's two-line form with a source line."""
    original = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if category.__module__.startswith("videoprovider"):
            click.echo(f"warning: {message}", err=True)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show

    def restore() -> None:
        warnings.showwarning = original

    ctx.call_on_close(restore)


C = TypeVar("C", bound=Callable[..., Any] | click.Command)


def global_options(fn: C) -> C:
    """The options every command takes, before or after its name (`submit "A cat" --json`)."""
    shared: dict[str, Any] = {"callback": _merge, "expose_value": False}
    options = [
        click.option(
            "--provider",
            "-p",
            "provider",
            metavar="NAME",
            help="Provider for this call (default: VIDEOPROVIDER_PROVIDER or the config).",
            **shared,
        ),
        click.option(
            "--json",
            "json",
            is_flag=True,
            help="Print one JSON document on stdout and nothing else.",
            **shared,
        ),
        click.option(
            "--quiet",
            "-q",
            "quiet",
            is_flag=True,
            help="No progress or messages, only results.",
            **shared,
        ),
        click.option(
            "--debug", "debug", is_flag=True, help="Show tracebacks and debug logs.", **shared
        ),
        click.option(
            "--journal/--no-journal",
            "journal",
            default=None,
            help="Record tasks in the journal (default: on; see the `tasks` commands).",
            **shared,
        ),
        click.option(
            "--config",
            "config",
            metavar="FILE",
            type=click.Path(exists=True, dir_okay=False),
            help="Config file to layer over your user config file, trusted because you named "
            "it (same as VIDEOPROVIDER_CONFIG=FILE).",
            **shared,
        ),
    ]
    # A decorated function collects options bottom-up; a built Command appends them in turn.
    for option in options if isinstance(fn, click.Command) else reversed(options):
        fn = option(fn)
    return fn


class _Group(click.Group):
    """The top-level group: with --json, a usage error is a JSON error document too."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        wants_json = "--json" in (args[: args.index("--")] if "--" in args else args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _usage_failure(exc, wants_json)
            raise
        ctx.meta["videoprovider.json"] = wants_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            state = ctx.find_object(State)
            _usage_failure(exc, ctx.meta.get("videoprovider.json") or bool(state and state.json))
            raise


def _usage_failure(exc: click.ClickException, as_json: bool) -> None:
    """With --json, show a usage error as text on stderr and a document on stdout, then exit."""
    if not as_json:
        return
    exc.show()
    hint = None
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        hint = f"Run `{exc.ctx.command_path} --help` for its usage."
    message = exc.format_message()
    if type(exc).__name__ == "NoArgsIsHelpError":
        # click >= 8.2 puts the whole help text in this one's message.
        message = "Missing command."
    error: dict[str, Any] = {"type": "UsageError", "message": message, "hint": hint}
    if isinstance(exc, click.BadParameter):
        error["param"] = _param_name(exc)
    click.echo(json.dumps({"error": error}, indent=2, sort_keys=True))
    sys.exit(exc.exit_code)


def _param_name(exc: click.BadParameter) -> str | None:
    """What the user typed wrong, as they typed it: `--duration`, `PROMPT`."""
    if exc.param_hint:
        return str(exc.param_hint)
    if isinstance(exc.param, click.Option):
        return max(exc.param.opts, key=len)
    return exc.param.human_readable_name if exc.param else None


@click.group(
    name="videoprovider",
    cls=_Group,
    epilog=EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@global_options
@click.version_option(package_name="videoprovider", prog_name="videoprovider")
@click.pass_context
def main(ctx: click.Context, /) -> None:
    """Generate AI videos with any installed provider (the offline `fake` by default)."""
    ctx.ensure_object(State)
    _warnings_as_lines(ctx)


def _register() -> None:
    from . import costs, info, journal, serve, tasks

    def add_global_options(command: click.Command) -> None:
        global_options(command)
        for sub in getattr(command, "commands", {}).values():
            add_global_options(sub)

    for command in (
        *tasks.COMMANDS,
        *costs.COMMANDS,
        *info.COMMANDS,
        *journal.COMMANDS,
        *serve.COMMANDS,
    ):
        add_global_options(command)
        main.add_command(command)


_register()
