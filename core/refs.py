"""Task references: a `Task`, its JSON, `"<provider>:<task_id>"` or a bare task id.

A host that stores ids of several providers stores `task.ref` and hands it back as it is.
Provider task ids may contain ':' themselves, so a reference is split on its first ':' only,
and only when what precedes it names an installed provider; `"<provider>:<id>"` is the
unambiguous spelling of any id.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Collection

from pydantic import ValidationError

from .errors import ConfigurationError
from .models import LOCAL_FILES_CONTEXT, Task
from .plugins import NAMESPACE

__all__ = ["TaskRef", "installed_provider_names", "split_ref", "to_task"]

TaskRef = Task | str
# What a provider name can look like (an entry point name); a prefix of this shape that is
# not installed is taken for a mistyped or missing provider, not for part of an id.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def installed_provider_names() -> frozenset[str]:
    """Names of the installed provider plugins, from entry points alone (nothing imported)."""
    return frozenset(ep.name for ep in importlib.metadata.entry_points(group=NAMESPACE))


def split_ref(text: str, installed: Callable[[], Collection[str]]) -> tuple[str | None, str]:
    """(provider, task id) of a string reference; provider None for a bare id."""
    text = text.strip()
    prefix, sep, rest = text.partition(":")
    if not sep or not _NAME.match(prefix) or rest.startswith("//"):
        return None, text
    names = installed()
    if prefix in names and rest.strip():
        return prefix, rest.strip()
    raise ConfigurationError(
        f"Task reference {text!r} names provider {prefix!r}, which is not installed. "
        f"Installed providers: {', '.join(sorted(names)) or 'none'}.",
        hint="Install the plugin that provides it. If the whole text is one task id, write "
        "it as '<provider>:<task id>'.",
    )


def to_task(ref: TaskRef, default_provider: str, installed: Callable[[], Collection[str]]) -> Task:
    """The Task a reference means; bare ids belong to `default_provider`."""
    if isinstance(ref, Task):
        return ref
    text = ref.strip()
    if text.startswith("{"):
        try:
            # A task document's request is a record of what was sent (nothing is read or
            # uploaded from it again), so the local files it names load as they were dumped.
            return Task.model_validate_json(text, context=LOCAL_FILES_CONTEXT)
        except ValidationError as exc:
            raise ConfigurationError(
                f"Not a task id or task document: {exc.errors()[0]['msg']}.",
                hint="Pass a task id, '<provider>:<task id>', a Task or the JSON of one.",
            ) from None
    provider, task_id = split_ref(text, installed)
    return Task(provider=provider or default_provider, task_id=task_id)
