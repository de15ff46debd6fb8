"""Next steps worded as `videoprovider` commands, for errors whose hint names a Python call.

The library's hints speak to Python callers (`wait()`, `client.capabilities`); a person at a
terminal needs the command to type instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..errors import VideoProviderError


def cli_hint(exc: VideoProviderError) -> str:
    """The hint to print for `exc` on the command line."""
    from .. import errors as e

    hint = exc.hint or ""
    # A task reference routes itself, whatever provider the command line selects.
    tid = f"{exc.provider}:{exc.task_id}" if exc.provider and exc.task_id else exc.task_id or "ID"
    if isinstance(exc, e.WaitTimeout) and "wait()" in hint:
        return (
            f"The task is still running; resume with `videoprovider wait {tid}`, "
            "or give a longer --timeout."
        )
    if isinstance(exc, e.TaskNotReady) and "wait()" in hint:
        return (
            f"Run `videoprovider wait {tid}` first, or "
            f"`videoprovider status {tid}` to see where the task is."
        )
    if isinstance(exc, e.UnsupportedOperation) and "client.capabilities" in hint:
        return (
            "Nothing was sent to the provider. `videoprovider providers` lists what each "
            "provider can do."
        )
    if "url(task)" in hint:
        return hint.replace("with url(task)", f"with `videoprovider url {tid}`")
    if "overwrite=True (CLI: --overwrite)" in hint:
        return hint.replace("pass overwrite=True (CLI: --overwrite)", "add --overwrite")
    return exc.hint
