"""Progress on stderr: live bars on a terminal (rich), one line per change elsewhere."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..models import TaskStatus


class Progress:
    """Reports task states and download bytes; silent with --quiet.

    Bars need a terminal: when stderr is redirected (CI logs, scripts) each state change is
    one plain line instead, so logs stay readable.
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live = not quiet and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._bytes: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description:<10}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)

    def status(self, status: TaskStatus) -> None:
        if self.quiet:
            return
        label = status.state.value.lower()
        if status.queue_position is not None:
            label += f" (queue {status.queue_position})"
        if self._bar is None:
            elapsed = time.monotonic() - self._started
            click.echo(f"  {label:<10} {status.progress:>3}%  {elapsed:6.1f}s", err=True)
            return
        if self._task is None:
            self._task = self._bar.add_task(label, total=100, detail="")
        self._bar.update(self._task, completed=status.progress, description=label)

    def bytes(self, done: int, total: int | None) -> None:
        if self._bar is None:
            return
        if self._bytes is None:
            self._bytes = self._bar.add_task("download", total=total, detail="")
        size = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f} MB" if total else " MB")
        self._bar.update(self._bytes, completed=done, total=total, detail=size)
