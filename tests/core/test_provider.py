"""The provider contract: every attribute the core reads is declared, with defaults, and
checked when a provider is loaded."""

import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from videoprovider.catalog import ModelInfo, ModelKind
from videoprovider.errors import ConfigurationError
from videoprovider.plugins import check_provider_class
from videoprovider.provider import Declaration, Operation, ProviderSettings

CORE = Path(__file__).resolve().parents[2] / "core"


class Minimal:
    capabilities: ClassVar[frozenset[Operation]] = frozenset({Operation.SUBMIT, Operation.STATUS})
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings


def test_undeclared_attributes_take_the_contract_defaults() -> None:
    declared = Declaration.of(Minimal, "minimal")
    assert declared.unsupported == {}
    assert declared.typical_task_seconds == 60.0
    assert declared.status_rate_limit is None
    assert declared.models == ()
    assert declared.local_service is False


def test_an_instance_may_declare_per_instance_values() -> None:
    provider = Minimal()
    provider.local_service = True  # type: ignore[attr-defined]
    provider.typical_task_seconds = 5.0  # type: ignore[attr-defined]
    declared = Declaration.of(provider, "minimal")
    assert declared.local_service is True and declared.typical_task_seconds == 5.0
    assert Declaration.of(Minimal, "minimal").local_service is False


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("typical_task_seconds", 0),
        ("typical_task_seconds", "60"),
        ("status_rate_limit", -1),
        ("status_rate_limit", True),
        ("unsupported", {Operation.CANCEL: 3}),
        ("unsupported", {"cancel": "no"}),
        ("unsupported", {Operation.SUBMIT: "offered and unsupported at once"}),
        ("models", ["wan2.6-t2v"]),
        ("local_service", "yes"),
    ],
)
def test_a_wrong_declaration_names_the_provider_and_the_attribute(
    attribute: str, value: Any
) -> None:
    cls = type("Wrong", (Minimal,), {attribute: value})
    with pytest.raises(ConfigurationError, match=rf"'acme' declares `{attribute}` wrongly"):
        Declaration.of(cls, "acme")


def test_the_loader_checks_the_declaration() -> None:
    async def hook(self: Any, **kw: Any) -> None: ...

    from videoprovider.hookspecs import hookimpl

    attrs = {
        "videoprovider_submit": hookimpl(hook),
        "videoprovider_status": hookimpl(hook),
        "status_rate_limit": "fast",
    }
    with pytest.raises(ConfigurationError, match="`status_rate_limit` wrongly"):
        check_provider_class("acme", type("Acme", (Minimal,), attrs))


def test_models_are_declared_as_model_info() -> None:
    model = ModelInfo(id="m1", kind=ModelKind.TEXT_TO_VIDEO, durations=(5, 10))
    cls = type("WithModels", (Minimal,), {"models": (model,)})
    assert Declaration.of(cls, "acme").models == (model,)


def test_no_module_of_core_reads_a_provider_attribute_with_getattr() -> None:
    # Everything the core reads from a provider goes through Declaration, so a third party
    # finds the whole contract in one place.
    provider_like = re.compile(
        r"getattr\(\s*(self\._provider|self\._provider_cls|info\.provider_class|cls|provider)\b"
    )
    offenders = [
        f"{path.relative_to(CORE)}:{n}"
        for path in CORE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if provider_like.search(line)
    ]
    assert offenders == []


def test_a_refused_setting_is_never_repeated_in_the_error() -> None:
    from pydantic import SecretStr, ValidationError, field_validator

    class KeyedSettings(ProviderSettings):
        api_key: SecretStr

        @field_validator("api_key")
        @classmethod
        def _shape(cls, v: SecretStr) -> SecretStr:
            raise ValueError("api_key must start with sk-")

    with pytest.raises(ValidationError) as info:
        KeyedSettings(api_key="sk-test-SECRETVALUE-0123")  # type: ignore[arg-type]
    assert "api_key must start with sk-" in str(info.value)
    assert "SECRETVALUE" not in str(info.value)
