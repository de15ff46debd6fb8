"""The config files: which are read, in which order, how far each is trusted, and merging.

The user config file is always read; over it either a file the user named or a
`./videoprovider.toml` from the working directory (see `videoprovider.trust` for what an
untrusted one may set). Merging is setting by setting, and each value keeps the file it
came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigurationError
from .trust import (
    CONFIG_ENV,
    PRICES,
    TRUST_KEY,
    ModelOf,
    read_config_file,
    refuse_trust_key,
    refuse_untrusted,
    secrets_in,
    trusted_folders,
    warn_if_readable,
)

__all__ = [
    "FILE_NAME",
    "Layer",
    "Merged",
    "default_config_paths",
    "merge",
    "read_layers",
    "user_config_file",
]

FILE_NAME = "videoprovider.toml"
ConfigArg = str | os.PathLike[str] | Literal[False] | None


@dataclass(frozen=True)
class Layer:
    """One config file that was read, and whether it is trusted (see `videoprovider.trust`)."""

    path: Path
    data: dict[str, Any]
    trusted: bool


def default_config_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The config files that are read, the first winning: the named file (else
    `./videoprovider.toml`), then the user config file. Both are read when both exist."""
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_ENV):
        return [Path(environ[CONFIG_ENV]).expanduser(), user_config_file()]
    return [Path.cwd() / FILE_NAME, user_config_file()]


def read_layers(config: ConfigArg, environ: Mapping[str, str], model_of: ModelOf) -> list[Layer]:
    """The config files to read, lowest layer first, each checked (file mode, trust).
    `model_of` gives the settings model of a section, to tell secrets and allowed settings."""
    if config is False:
        return []
    user_file = user_config_file()
    layers: list[Layer] = []
    folders: list[Path] = []
    if user_file.is_file():
        data = read_config_file(user_file)
        folders = trusted_folders(data.pop(TRUST_KEY, []), user_file)
        layers.append(Layer(user_file, data, trusted=True))
    path, named = _top_file(config, environ)
    if path is not None and not (layers and _same(path, user_file)):
        data = read_config_file(path)
        refuse_trust_key(path, data, user_file)
        trusted = named or path.parent.resolve() in folders
        if not trusted:
            refuse_untrusted(path, data, model_of, user_file)
        layers.append(Layer(path, data, trusted))
    for layer in layers:
        warn_if_readable(layer.path, secrets_in(layer.data, model_of))
    return layers


def _top_file(config: ConfigArg, environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The file layered over the user's: (path, whether the user named it)."""
    if config is not None and config is not False:
        path = Path(config).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"Config file {path} does not exist.")
        return path, True
    if environ.get(CONFIG_ENV):
        path = Path(environ[CONFIG_ENV]).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"Config file {path} (from {CONFIG_ENV} or --config) does not exist.",
                hint=f"Create it or unset {CONFIG_ENV}.",
            )
        return path, True
    found = Path.cwd() / FILE_NAME
    return (found, False) if found.is_file() else (None, False)


@dataclass(frozen=True)
class Merged:
    """The layers' values, a later layer overriding an earlier one setting by setting, and
    the file each came from. Price rows stay in the layers (`Config.prices`)."""

    top: dict[str, Any]
    top_from: dict[str, Path]
    sections: dict[str, dict[str, Any]]
    origins: dict[str, dict[str, Path]]


def merge(layers: Sequence[Layer]) -> Merged:
    """Merge `layers`, lowest first."""
    merged = Merged({}, {}, {}, {})
    for layer in layers:
        for key, value in layer.data.items():
            if not isinstance(value, dict):
                merged.top[key], merged.top_from[key] = value, layer.path
            elif key != PRICES:
                merged.sections.setdefault(key, {}).update(value)
                merged.origins.setdefault(key, {}).update(dict.fromkeys(value, layer.path))
    return merged


def user_config_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("videoprovider")) / "config.toml"


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()
