"""Commands that act on tasks: generate, submit, status, wait, url, download, cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .app import State, interruptible, run
from .costs import cost_options, spend_settings
from .options import build_request, request_options
from .progress import Progress

if TYPE_CHECKING:
    from pathlib import Path

    from ..models import Task, TaskStatus
    from ..sync import VideoClient

TIMEOUT = click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds to wait (default: the wait_timeout setting).",
)
OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
TASK = click.argument("task", metavar="TASK")


def _status_line(status: TaskStatus) -> str:
    line = f"{status.task_id}  {status.state.value}  {status.progress}%"
    if status.queue_position is not None:
        line += f"  queue position {status.queue_position}"
    if status.error_code or status.error_message:
        line += f"  {status.error_code or ''}: {status.error_message or ''}"
    return line


def _timeout(value: float | None) -> Any:
    from ..client import DEFAULT

    return DEFAULT if value is None else value


@click.command()
@click.argument("prompt")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(),
    help="File (or existing directory) to save the video to.",
)
@TIMEOUT
@OVERWRITE
@cost_options
@request_options
@click.pass_obj
def generate(
    state: State,
    /,
    prompt: str,
    out: str,
    timeout: float | None,
    overwrite: bool,
    max_cost: str | None,
    allow_unknown_cost: bool,
    max_spend: str | None,
    spend_period: str | None,
    extra: tuple[str, ...],
    **fields: Any,
) -> None:
    """Submit PROMPT, wait with progress, download the video to --out, print its path."""

    def body() -> None:
        from ..hookspecs import hookimpl

        request = build_request(prompt, extra, fields)
        submitted: list[Task] = []

        class Remember:
            @hookimpl
            def videoprovider_task_submitted(self, task: Task) -> None:
                submitted.append(task)
                state.say(f"submitted task {task.task_id} to {task.provider}")

        with state.client(**spend_settings(max_spend, spend_period)) as client:
            client.register(Remember())
            tid = lambda: submitted[0].task_id if submitted else None  # noqa: E731
            with interruptible(state, tid, client.provider_name), Progress(state.quiet) as bar:
                video = client.generate(
                    request,
                    out,
                    timeout=_timeout(timeout),
                    on_progress=bar.status,
                    overwrite=overwrite,
                    on_bytes=bar.bytes,
                    max_cost=max_cost,
                    allow_unknown_cost=allow_unknown_cost,
                )
        state.show(video.path, video)

    run(state, body)


@click.command()
@click.argument("prompt")
@click.option(
    "--out",
    "-o",
    default=None,
    type=click.Path(),
    help="File (or existing directory) `tasks resume` saves the video to once it is ready.",
)
@cost_options
@request_options
@click.pass_obj
def submit(
    state: State,
    /,
    prompt: str,
    out: str | None,
    max_cost: str | None,
    allow_unknown_cost: bool,
    max_spend: str | None,
    spend_period: str | None,
    extra: tuple[str, ...],
    **fields: Any,
) -> None:
    """Submit PROMPT and print the task at once (id, provider); do not wait."""

    def body() -> None:
        request = build_request(prompt, extra, fields)
        with state.client(**spend_settings(max_spend, spend_period)) as client:
            task = client.submit(
                request, target=out, max_cost=max_cost, allow_unknown_cost=allow_unknown_cost
            )
        state.show(f"{task.task_id}  {task.provider}  submitted", task)

    run(state, body)


@click.command()
@TASK
@click.pass_obj
def status(state: State, /, task: str) -> None:
    """Print where TASK is now (state, progress, error)."""

    def body() -> None:
        result = state.on_task(task, lambda client, ref: client.status(ref))
        state.show(_status_line(result), result)

    run(state, body)


@click.command()
@TASK
@TIMEOUT
@click.pass_obj
def wait(state: State, /, task: str, timeout: float | None) -> None:
    """Wait for TASK to finish, with progress; print its final status."""

    def waiting(client: VideoClient, ref: str | Task) -> TaskStatus:
        with (
            interruptible(state, lambda: _task_id(ref), client.provider_name),
            Progress(state.quiet) as bar,
        ):
            return client.wait(ref, timeout=_timeout(timeout), on_progress=bar.status)

    def body() -> None:
        result = state.on_task(task, waiting)
        state.show(_status_line(result), result)

    run(state, body)


@click.command()
@TASK
@click.pass_obj
def url(state: State, /, task: str) -> None:
    """Print the download URL of a finished TASK's video (it expires; download soon)."""

    def body() -> None:
        link, tid = state.on_task(task, lambda client, ref: (client.url(ref), _task_id(ref)))
        state.show(link, {"task_id": tid, "url": link})

    run(state, body)


@click.command()
@TASK
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(),
    help="File (or existing directory) to save the video to.",
)
@OVERWRITE
@click.pass_obj
def download(state: State, /, task: str, out: str, overwrite: bool) -> None:
    """Download a finished TASK's video (or a video URL) to --out; print the path."""

    def saving(client: VideoClient, ref: str | Task) -> Path:
        # The person at the terminal typed the URL, so the CLI may take one as TASK.
        save = client.download_url if isinstance(ref, str) and "://" in ref else client.download
        with Progress(state.quiet) as bar:
            return save(ref, out, overwrite=overwrite, on_bytes=bar.bytes)  # type: ignore[arg-type]

    def body() -> None:
        path = state.on_task(task, saving)
        state.show(str(path), {"path": str(path), "bytes": path.stat().st_size})

    run(state, body)


@click.command()
@TASK
@click.pass_obj
def cancel(state: State, /, task: str) -> None:
    """Cancel TASK, where the provider offers it (exit 3 and nothing sent otherwise)."""

    def body() -> None:
        _cancel_is_offered(state, task)
        result = state.on_task(task, lambda client, ref: client.cancel(ref))
        state.show(_status_line(result), result)

    run(state, body)


def _cancel_is_offered(state: State, task: str) -> None:
    # Before a client is built: a provider that cannot cancel says so (exit 3) even where
    # its key is missing, since no key would make the cancel possible.
    from ..backend import require
    from ..config import load_config
    from ..plugins import load_provider_class
    from ..provider import Declaration, Operation

    name = state.task(task)[0] or state.provider or load_config().core.provider
    require(name, Declaration.of(load_provider_class(name), name), Operation.CANCEL)


def _task_id(ref: str | Task) -> str:
    return ref if isinstance(ref, str) else ref.task_id


COMMANDS = (generate, submit, status, wait, url, download, cancel)
