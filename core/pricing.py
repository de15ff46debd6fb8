"""Pricing as a client does it: the estimate before a submit, the cost of a finished task.

The figures come from `prices.py` (the provider's table behind the config file's rows);
this module finds what they need: the task's request, the provider's default model and
catalogue, the region its instance sends to, and what the provider said it billed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .backend import Backend
from .config import Config
from .errors import ConfigurationError
from .models import Estimate, Task, TaskState, TaskStatus, VideoRequest
from .prices import Price, actual_cost, estimate

__all__ = ["Pricing", "credential_placeholders"]

log = logging.getLogger("videoprovider")

# What stands in for a missing key when a provider is loaded only to price a request.
UNUSED_SECRET = "unused: an estimate sends nothing"


def credential_placeholders(provider: str) -> dict[str, str]:
    """Stand-ins for the required secret settings (API keys) of `provider`, so it can be
    loaded to read its prices and region without them: `videoprovider estimate` sends
    nothing, and must not ask for a key. Never use such a client for anything else."""
    from pydantic import SecretStr

    from .plugins import load_provider_class

    fields = load_provider_class(provider).Settings.model_fields
    return {
        name: UNUSED_SECRET
        for name, info in fields.items()
        if info.is_required() and info.annotation is SecretStr
    }


class Pricing:
    """Estimates and costs for the providers of one client."""

    def __init__(self, config: Config, backend: Callable[[str], Backend]) -> None:
        self._config = config
        self._backend = backend

    def user_prices(self, provider: str) -> tuple[Price, ...]:
        return self._config.prices(provider)

    def estimate(self, backend: Backend, request: VideoRequest) -> Estimate:
        return estimate(request, **self._table(backend))

    def settle(self, task: Task, status: TaskStatus) -> TaskStatus:
        """`status` with its `cost` when it is a completion: actual from `status.billed`,
        else the estimate. Unchanged when already priced, or `task` carries no request (the
        client reads a bare task id's request from the journal first: calls.py)."""
        request = task.request
        if status.cost is not None or status.state is not TaskState.COMPLETED or request is None:
            return status
        try:
            table = self._table(self._backend(task.provider))
        except ConfigurationError as exc:
            # A bad [prices] row of another provider must not cost the status its journal
            # write: the task is recorded unpriced, and the reason logged.
            log.warning("%s task %s left unpriced: %s", task.provider, task.task_id, exc)
            return status
        cost = actual_cost(request, status.billed, **table)
        return status.model_copy(update={"cost": cost})

    def _table(self, backend: Backend) -> dict[str, Any]:
        return {
            "prices": (*self.user_prices(backend.name), *backend.declared.prices),
            "models": backend.declared.models,
            "default_model": getattr(backend.settings, "model", None),
            "region": backend.declared.price_region,
        }
