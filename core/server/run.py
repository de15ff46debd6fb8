"""Running the gateway on uvicorn, after the checks that must pass before it listens."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import ConfigurationError
from .callers import KeyRing
from .settings import ServerSettings
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
    store = Store(settings.database_path())
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

    if workers != 1:
        raise ConfigurationError(
            f"--workers {workers}: several gateway processes need a shared store and "
            "journal on PostgreSQL, which the gateway does not support yet; on SQLite each "
            "would track every task.",
            hint="Run one worker (the default); it serves many callers concurrently.",
        )
    check_exposure(settings)
    app = create_app(config, settings=settings)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port}
    uvicorn.run(app, log_level="info", **options)


def storage_summary(settings: ServerSettings) -> dict[str, Path]:
    return {"database": settings.database_path(), "storage": settings.storage_path()}
