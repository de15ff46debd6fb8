"""The fake provider passes the provider conformance kit, like any plugin must."""

from typing import ClassVar

import pytest

from videoprovider.testing.conformance import ProviderConformance


class TestFakeConformance(ProviderConformance):
    provider = "fake"
    uses_http: ClassVar[bool] = False  # offline: no network faults to inject

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return "fake-bm90LWEtdGFzaw"  # well-formed, but names no task
