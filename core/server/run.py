"""Running the gateway on uvicorn, after the checks that must pass before it listens."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from ..config import Config
from ..errors import ConfigurationError
from .callers import KeyRing
from .settings import CONFIG_ENV, ENV_PREFIX, ServerSettings
from .store import Store

__all__ = ["check_exposure", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, treat it as reachable


def check_exposure(settings: ServerSettings) -> None:
    """Refuse to listen beyond this machine when no caller key is configured."""
    if is_loopback(settings.host):
        return
    store = Store(settings.database_url())
    try:
        keyed = KeyRing(settings, store).any_configured()
    finally:
        store.close()
    if not keyed:
        raise ConfigurationError(
            f"Refusing to listen on {settings.host}: no caller key is configured, so anyone "
            "who reaches it could spend on your provider accounts.",
            hint="Create a key first (videoprovider serve keys create NAME), or listen on "
            "127.0.0.1.",
        )


def serve(config: Config, settings: ServerSettings, workers: int = 1) -> None:
    """Serve until SIGTERM or Ctrl-C: uvicorn then stops accepting, lets in-flight requests
    finish and closes the app, whose tasks stay in the journal for the next start."""
    import uvicorn

    from .app import create_app

    if workers < 1:
        raise ConfigurationError(f"--workers must be 1 or more, got {workers}.")
    check_exposure(settings)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port}
    if workers == 1:
        uvicorn.run(create_app(config, settings=settings), log_level="info", **options)
        return
    # Each worker process builds its own app (one client per provider, its own share of
    # the videos through the store's leases) from the same config file.
    os.environ[CONFIG_ENV] = str(config.file or "")
    os.environ[f"{ENV_PREFIX}DATABASE"] = str(settings.database_url())
    os.environ[f"{ENV_PREFIX}STORAGE"] = settings.storage_location()
    uvicorn.run("videoprovider.server.run:worker_app", factory=True, workers=workers, **options)


def worker_app() -> Any:
    """The app of one `--workers` process (uvicorn imports this by name)."""
    from ..config import load_config
    from .app import create_app
    from .settings import server_settings

    config = load_config(config=os.environ.get(CONFIG_ENV) or False)
    return create_app(config, settings=server_settings(config))
