"""Finding and loading provider plugins (stevedore) and wiring hooks (pluggy).

stevedore answers "which provider plugins are installed, and load the one named in config"
from the `videoprovider.providers` entry point group. pluggy calls the operations on the loaded
provider and notifies host plugins. Built-in providers go through exactly this path.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, cast

import pluggy

from . import hookspecs
from .errors import ConfigurationError
from .provider import Declaration, Operation

__all__ = [
    "NAMESPACE",
    "ProviderInfo",
    "check_provider_class",
    "list_providers",
    "load_provider_class",
    "make_plugin_manager",
]

NAMESPACE = "videoprovider.providers"


@dataclass(frozen=True)
class ProviderInfo:
    """An installed provider plugin, or why it could not be loaded."""

    name: str
    target: str
    distribution: str | None
    provider_class: type[Any] | None = None
    error: str | None = None

    @property
    def capabilities(self) -> frozenset[Operation]:
        if self.provider_class is None:
            return frozenset()
        return frozenset(self.provider_class.capabilities)


def _forget_cached_entry_points() -> None:
    # stevedore keeps a process-wide cache of entry points per namespace. A plugin installed
    # (or put on sys.path) after the first scan must still be found, so drop ours before each
    # scan; stevedore's on-disk cache keeps the rescan cheap.
    from stevedore import ExtensionManager

    ExtensionManager.ENTRY_POINT_CACHE.pop(NAMESPACE, None)


def _distributions() -> dict[tuple[str, str], str]:
    # stevedore's cached entry points do not carry their distribution, so look it up: the
    # package that registered (name, target) in our group.
    found: dict[tuple[str, str], str] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == NAMESPACE:
                found.setdefault((ep.name, ep.value), f"{dist.metadata['Name']} {dist.version}")
    return found


def distribution_of(name: str) -> str | None:
    """The package ("name version") that installed the provider `name`, if one did."""
    return next((d for (ep, _), d in _distributions().items() if ep == name), None)


def list_providers() -> list[ProviderInfo]:
    """Every provider plugin installed, sorted by name. A broken one is listed with its error
    instead of stopping the others from being listed."""
    from stevedore import ExtensionManager

    _forget_cached_entry_points()
    dists = _distributions()
    failures: dict[str, ProviderInfo] = {}

    def on_failure(_mgr: Any, ep: importlib.metadata.EntryPoint, err: BaseException) -> None:
        failures[ep.name] = ProviderInfo(
            name=ep.name,
            target=ep.value,
            distribution=dists.get((ep.name, ep.value)),
            error=f"{type(err).__name__}: {err}",
        )

    mgr = ExtensionManager(NAMESPACE, invoke_on_load=False, on_load_failure_callback=on_failure)
    found: dict[str, ProviderInfo] = dict(failures)
    for ext in mgr.extensions:
        try:
            check_provider_class(ext.name, ext.plugin)
        except ConfigurationError as exc:
            found[ext.name] = ProviderInfo(
                name=ext.name,
                target=ext.entry_point.value,
                distribution=dists.get((ext.name, ext.entry_point.value)),
                error=exc.message,
            )
            continue
        found[ext.name] = ProviderInfo(
            name=ext.name,
            target=ext.entry_point.value,
            distribution=dists.get((ext.name, ext.entry_point.value)),
            provider_class=ext.plugin,
        )
    return [found[k] for k in sorted(found)]


def load_provider_class(name: str) -> type[Any]:
    """The provider class registered as `name`, checked. Raises ConfigurationError naming the
    installed providers when there is no such plugin or it cannot be loaded."""
    from stevedore import DriverManager
    from stevedore.exception import MultipleMatches, NoMatches

    _forget_cached_entry_points()
    try:
        mgr: DriverManager[Any] = DriverManager(NAMESPACE, name, invoke_on_load=False)
    except NoMatches:
        installed = ", ".join(p.name for p in list_providers()) or "none"
        raise ConfigurationError(
            f"No provider named {name!r} is installed. Installed providers: {installed}.",
            hint="Set VIDEOPROVIDER_PROVIDER (or `provider` in the config file) to one of them, "
            "or install the plugin package that provides it.",
        ) from None
    except MultipleMatches:
        raise ConfigurationError(
            f"More than one installed package registers a provider named {name!r}.",
            hint="Uninstall one of them (`pip list` shows which packages are installed).",
        ) from None
    except Exception as exc:
        raise ConfigurationError(
            f"The provider plugin {name!r} failed to load: {type(exc).__name__}: {exc}.",
            hint="Reinstall the package that provides it; `videoprovider providers` lists "
            "what is installed and what is broken.",
        ) from exc
    cls = mgr.driver
    check_provider_class(name, cls)
    return cast("type[Any]", cls)


def check_provider_class(name: str, cls: Any) -> None:
    """Check a provider class against the contract in `videoprovider.provider`.

    Declared capabilities and implemented operation hooks must agree, so that what a
    provider cannot do is known before any call and refused without a request.
    """
    if not isinstance(cls, type):
        raise ConfigurationError(
            f"Provider plugin {name!r} must be a class, got {type(cls).__name__}."
        )
    where = f"Provider plugin {name!r} ({cls.__module__})"
    declared = Declaration.of(cls, name)
    caps = declared.capabilities
    pm = make_plugin_manager()
    marked = {
        attr
        for attr in dir(cls)
        if attr.startswith("videoprovider_") and pm.parse_hookimpl_opts(cls, attr) is not None
    }
    unknown = marked - set(hookspecs.OPERATION_HOOKS) - set(hookspecs.PROVIDER_SUPPORT_HOOKS)
    if unknown:
        raise ConfigurationError(
            f"{where} implements hooks that do not exist: {', '.join(sorted(unknown))}.",
            hint="Check the spelling against videoprovider.hookspecs.",
        )
    if (declared.recoverable_submits is not None) != ("videoprovider_recover_submit" in marked):
        raise ConfigurationError(
            f"{where} must declare `recoverable_submits` and implement "
            "videoprovider_recover_submit together, or neither.",
            hint="See videoprovider.hookspecs.videoprovider_recover_submit.",
        )
    if declared.status_stream != ("videoprovider_watch" in marked):
        raise ConfigurationError(
            f"{where} must declare `status_stream = True` and implement "
            "videoprovider_watch together, or neither.",
            hint="See videoprovider.hookspecs.videoprovider_watch.",
        )
    implemented = {op for op in Operation if op.hook_name in marked}
    if Operation.SUBMIT not in caps or Operation.STATUS not in caps:
        raise ConfigurationError(f"{where} must offer at least submit and status.")
    if implemented != set(caps):
        missing = sorted(op.value for op in set(caps) - implemented)
        extra = sorted(op.value for op in implemented - set(caps))
        parts = []
        if missing:
            parts.append(f"declares {', '.join(missing)} without implementing the hook")
        if extra:
            parts.append(f"implements {', '.join(extra)} without declaring it")
        raise ConfigurationError(
            f"{where} {' and '.join(parts)}; declared capabilities and implemented hooks "
            "must agree.",
            hint="Fix the plugin's `capabilities` or its @hookimpl methods.",
        )


def make_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm
