"""Placeholder: filled by the DashScope issue."""

from __future__ import annotations

from typing import ClassVar

from videoprovider.provider import Operation, ProviderContext, ProviderSettings


class DashScopeSettings(ProviderSettings):
    pass


class DashScopeProvider:
    capabilities: ClassVar[frozenset[Operation]] = frozenset()
    Settings: ClassVar[type[ProviderSettings]] = DashScopeSettings

    def __init__(self, settings: DashScopeSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
