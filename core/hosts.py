"""Host plugins: the application's own observers of task events, and how they are called."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from . import hookspecs
from .errors import ConfigurationError
from .plugins import make_plugin_manager

__all__ = ["HostPlugins"]

log = logging.getLogger("videoprovider")


class HostPlugins:
    """The host plugins one client notifies; only event hooks are allowed here."""

    def __init__(self) -> None:
        self._pm = make_plugin_manager()

    def register(self, plugin: object, name: str | None = None) -> None:
        self._pm.register(plugin, name=name)
        try:
            self._pm.check_pending()
        except Exception as exc:
            self._pm.unregister(plugin)
            raise ConfigurationError(
                f"Host plugin {plugin!r} has a hook that does not exist: {exc}.",
                hint="Host plugins implement only " + ", ".join(hookspecs.EVENT_HOOKS) + ".",
            ) from None
        wrong = sorted(
            c.name
            for c in self._pm.get_hookcallers(plugin) or ()
            if c.name not in hookspecs.EVENT_HOOKS
        )
        if wrong:
            self._pm.unregister(plugin)
            raise ConfigurationError(
                f"Host plugin {plugin!r} implements provider hooks ({', '.join(wrong)}).",
                hint="A provider is a separate plugin selected by config; see "
                "docs/writing-a-provider.md.",
            )

    def unregister(self, plugin: object) -> None:
        self._pm.unregister(plugin)

    async def emit(self, hook: str, **kwargs: Any) -> None:
        # Each host hook runs on its own: one failing observer must neither stop the others
        # nor turn a task the provider accepted into an exception that loses it.
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("host plugin %s failed in %s", impl.plugin_name, hook)
