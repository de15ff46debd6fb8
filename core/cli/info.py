"""Commands that describe the installation: providers, models, config show, config path."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from .app import State, run


def _provider_rows(state: State) -> list[dict[str, Any]]:
    from ..config import load_config
    from ..errors import VideoProviderError
    from ..plugins import list_providers
    from ..provider import Declaration, Operation

    config = None
    selected = state.provider
    broken = None
    try:
        config = load_config()
        selected = state.provider or config.core.provider
    except VideoProviderError as exc:
        state.say(f"warning: {exc}")
        broken = f"the config file is broken: {exc.message}"
    rows = []
    for info in list_providers():
        declared = None
        if info.provider_class is not None:
            try:
                declared = Declaration.of(info.provider_class, info.name)
            except VideoProviderError as exc:
                info = replace(info, provider_class=None, error=exc.message)
        row: dict[str, Any] = {
            "name": info.name,
            "selected": info.name == selected,
            "capabilities": [op.value for op in Operation if op in info.capabilities],
            "unsupported": {
                op.value: why for op, why in (declared.unsupported if declared else {}).items()
            },
            "models": [m.id for m in declared.models] if declared else [],
            "distribution": info.distribution,
            "error": info.error,
            "configured": False,
            "problem": broken,
        }
        if config is not None and info.provider_class is not None:
            try:
                config.resolve_provider(info.name, info.provider_class.Settings, {})
                row["configured"] = True
            except VideoProviderError as exc:
                row["problem"] = exc.message
        rows.append(row)
    return rows


@click.command()
@click.pass_obj
def providers(state: State, /) -> None:
    """List installed providers, what each can do, and whether it is configured."""

    def body() -> None:
        rows = _provider_rows(state)
        lines = []
        for row in rows:
            mark = "*" if row["selected"] else " "
            if row["error"]:
                lines.append(f"{mark} {row['name']:<12} BROKEN: {row['error']}")
                continue
            caps = ", ".join(row["capabilities"])
            ready = "configured" if row["configured"] else f"not configured: {row['problem']}"
            line = f"{mark} {row['name']:<12} {caps:<28} {ready}"
            if row["models"]:
                line += f"\n{'':15}models: {', '.join(row['models'])}"
            lines.append(line)
        state.show("\n".join(lines), rows)

    run(state, body)


@click.group()
def config() -> None:
    """Show the effective configuration and where the config file is."""


@config.command()
@click.pass_obj
def show(state: State, /) -> None:
    """Every effective setting, where it came from, secrets redacted."""

    def body() -> None:
        from ..config import describe, load_config
        from ..errors import ConfigurationError
        from ..plugins import load_provider_class

        cfg = load_config(args={"provider": state.provider} if state.provider else None)
        report: dict[str, Any] = {
            "file": str(cfg.file) if cfg.file else None,
            "files": [str(f) for f in cfg.files],
            "videoprovider": describe(cfg.core, cfg.core_sources),
        }
        name = cfg.core.provider
        try:
            cls = load_provider_class(name)
            settings, sources = cfg.resolve_provider(name, cls.Settings, {})
            report[name] = describe(settings, sources)
        except ConfigurationError as exc:
            report[name] = {"error": exc.message}
        lines = [f"config files: {', '.join(report['files']) or '(none)'}"]
        for section, values in report.items():
            if section in ("file", "files"):
                continue
            lines.append(f"[{section}]")
            if "error" in values:
                lines.append(f"  error: {values['error']}")
                continue
            for key, item in values.items():
                lines.append(f"  {key} = {item['value']!r}  ({item['source']})")
        state.show("\n".join(lines), report)

    run(state, body)


@config.command()
@click.pass_obj
def path(state: State, /) -> None:
    """The config files that are read, the first winning, with `*` on those that exist."""

    def body() -> None:
        from ..config import default_config_paths, load_config

        paths = [str(p) for p in default_config_paths()]
        config = load_config()
        read = [str(f) for f in config.files]
        lines = [f"{'*' if p in read else ' '} {p}" for p in paths]
        document = {
            "paths": paths,
            "read": read,
            "active": str(config.file) if config.file else None,
        }
        state.show("\n".join(lines), document)

    run(state, body)


@click.command()
@click.pass_obj
def models(state: State, /) -> None:
    """List the models of every installed provider (or of --provider), as each declares them."""

    def body() -> None:
        from ..config import load_config
        from ..errors import ConfigurationError
        from ..plugins import list_providers, load_provider_class
        from ..prices import prices_of
        from ..provider import Declaration

        config = load_config()
        names = [state.provider] if state.provider else [p.name for p in list_providers()]
        rows: list[dict[str, Any]] = []
        for name in names:
            try:
                declared = Declaration.of(load_provider_class(name), name)
            except ConfigurationError as exc:
                if state.provider:
                    raise
                state.say(f"warning: {name}: {exc.message}")
                continue
            prices = (*config.prices(name), *declared.prices)
            rows += [
                {
                    "provider": name,
                    **m.model_dump(mode="json"),
                    "prices": [p.model_dump(mode="json") for p in prices_of(m.id, prices)],
                }
                for m in declared.models
            ]
        state.show(_models_table(rows), rows)

    run(state, body)


def _span(values: list[int]) -> str:
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values)) or "-"


def _shown(values: list[str], most: int = 4) -> str:
    # Sizes run to a dozen per model; --json has them all.
    if len(values) > most:
        return ", ".join(values[:most]) + f" (+{len(values) - most})"
    return ", ".join(values) or "-"


def _prices(model: str, prices: list[dict[str, Any]]) -> str:
    # Unknown prices show as "?": nothing published that we could verify, nothing guessed.
    shown = []
    for p in prices:
        unit = "s" if p["per_second"] is not None else "video"
        rate = f"{p['per_second'] or p['per_video']} {p['currency']}/{unit}"
        where = f"({p['region']})" if p["region"] else ""
        parts = [p["model"] if p["model"] != model else "", p["resolution"] or "", rate, where]
        shown.append(" ".join(part for part in parts if part))
    return "; ".join(shown) or "?"


def _models_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No provider declares a model catalogue."
    head = (
        "PROVIDER",
        "MODEL",
        "KIND",
        "SECONDS",
        "RESOLUTIONS / SIZES",
        "AUDIO",
        "REGIONS",
        "PRICES",
    )
    table = [head]
    for r in rows:
        audio = {True: "yes", False: "no", None: "?"}[r["audio"]]
        table.append(
            (
                r["provider"],
                r["id"] + ("" if r["supported"] else " (refused)"),
                r["kind"],
                _span(r["durations"]),
                _shown(r["resolutions"] or r["sizes"]),
                audio,
                ", ".join(r["regions"]) or "all",
                _prices(r["id"], r["prices"]),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in table
    )


COMMANDS = (providers, models, config)
