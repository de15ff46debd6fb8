from pathlib import Path
from typing import Any

import pytest

from videoprovider import VideoClient, VideoRequest
from videoprovider.errors import ConfigurationError
from videoprovider.hookspecs import hookimpl
from videoprovider.plugins import check_provider_class, list_providers, load_provider_class
from videoprovider.provider import Operation, ProviderSettings

InstallDist = Any  # the install_dist fixture from tests/conftest.py

BYCONFIG = """
from videoprovider.plugin import Operation, ProviderSettings, Task, TaskState, TaskStatus, hookimpl

class ByConfigSettings(ProviderSettings):
    greeting: str = "hello"

class ByConfigProvider:
    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
    Settings = ByConfigSettings

    def __init__(self, settings, context):
        self.settings, self.context = settings, context

    @hookimpl
    async def videoprovider_submit(self, request):
        return Task(provider=self.context.name, task_id=self.settings.greeting + "-1",
                    request=request)

    @hookimpl
    async def videoprovider_status(self, task_id):
        return TaskStatus(provider=self.context.name, task_id=task_id,
                          state=TaskState.PROCESSING)
"""

PROVIDERS = "videoprovider.providers"


def test_builtin_providers_are_found_through_entry_points() -> None:
    found = {p.name: p for p in list_providers()}
    assert {"fake", "dashscope"} <= set(found)
    assert found["fake"].target == "videoprovider_fake.provider:FakeProvider"


def test_third_party_provider_is_selected_purely_by_config(
    install_dist: InstallDist, tmp_path: Path
) -> None:
    # Not "acme": the provider tutorial's plugin has that name, and may be installed here.
    install_dist(
        "byconfig-video",
        {"byconfig_video": BYCONFIG},
        {PROVIDERS: {"byconfig": "byconfig_video:ByConfigProvider"}},
    )
    config = tmp_path / "videoprovider.toml"
    config.write_text('provider = "byconfig"\n[byconfig]\ngreeting = "hi"\n')
    with VideoClient(config=config, environ={}) as client:
        assert client.provider_name == "byconfig"
        assert client.capabilities == {Operation.SUBMIT, Operation.STATUS}
        task = client.submit(VideoRequest(prompt="a cat"))
    assert task.task_id == "hi-1" and task.provider == "byconfig"
    info = {p.name: p for p in list_providers()}["byconfig"]
    assert info.error is None and info.distribution == "byconfig-video 1.0"


def test_unknown_provider_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_provider_class("nope")
    assert "'nope'" in str(info.value) and "dashscope" in str(info.value)
    assert "fake" in str(info.value)


def test_a_broken_plugin_does_not_hide_the_others(install_dist: InstallDist) -> None:
    install_dist(
        "broken-video",
        {"broken_video": "raise ImportError('needs libfoo')"},
        {PROVIDERS: {"broken": "broken_video:Provider"}},
    )
    found = {p.name: p for p in list_providers()}
    assert "needs libfoo" in (found["broken"].error or "")
    assert found["fake"].error is None
    with pytest.raises(ConfigurationError, match=r"failed to load.*needs libfoo"):
        load_provider_class("broken")


def test_not_a_class_is_reported(install_dist: InstallDist) -> None:
    install_dist("odd-video", {"odd_video": "thing = 42"}, {PROVIDERS: {"odd": "odd_video:thing"}})
    assert "must be a class" in ({p.name: p for p in list_providers()}["odd"].error or "")


class Settings(ProviderSettings):
    pass


def make(caps: set[Operation], **methods: Any) -> type:
    attrs: dict[str, Any] = {"capabilities": frozenset(caps), "Settings": Settings}
    for name in methods:

        async def impl(self: Any, **kw: Any) -> None: ...

        impl.__name__ = name
        attrs[name] = hookimpl(impl)
    return type("P", (), attrs)


BASIC = {"videoprovider_submit": 1, "videoprovider_status": 1}


def test_matching_declaration_passes() -> None:
    check_provider_class("ok", make({Operation.SUBMIT, Operation.STATUS}, **BASIC))


def test_declared_but_not_implemented_is_refused() -> None:
    cls = make({Operation.SUBMIT, Operation.STATUS, Operation.CANCEL}, **BASIC)
    with pytest.raises(ConfigurationError, match="declares cancel without implementing"):
        check_provider_class("x", cls)


def test_implemented_but_not_declared_is_refused() -> None:
    cls = make({Operation.SUBMIT, Operation.STATUS}, **BASIC, videoprovider_url=1)
    with pytest.raises(ConfigurationError, match="implements url without declaring"):
        check_provider_class("x", cls)


def test_misspelled_hook_is_refused_at_load() -> None:
    cls = make({Operation.SUBMIT, Operation.STATUS}, **BASIC, videoprovider_stauts=1)
    with pytest.raises(ConfigurationError, match="videoprovider_stauts"):
        check_provider_class("x", cls)


def test_submit_and_status_are_required() -> None:
    with pytest.raises(ConfigurationError, match="at least submit and status"):
        check_provider_class("x", make({Operation.SUBMIT}, videoprovider_submit=1))


def test_settings_must_be_declared() -> None:
    cls = make({Operation.SUBMIT, Operation.STATUS}, **BASIC)
    cls.Settings = dict  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="Settings"):
        check_provider_class("x", cls)


def test_capabilities_must_be_operations() -> None:
    cls = make(set(), **BASIC)
    cls.capabilities = {"submit", "status"}  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"frozenset of videoprovider\.Operation"):
        check_provider_class("x", cls)


def test_recoverable_submits_need_the_recover_hook_and_the_hook_needs_them() -> None:
    ops = {Operation.SUBMIT, Operation.STATUS}
    both = make(ops, **BASIC, videoprovider_recover_submit=1)
    both.recoverable_submits = "external_task_id"  # type: ignore[attr-defined]
    check_provider_class("ok", both)
    declared_only = make(ops, **BASIC)
    declared_only.recoverable_submits = "external_task_id"  # type: ignore[attr-defined]
    hook_only = make(ops, **BASIC, videoprovider_recover_submit=1)
    for cls in (declared_only, hook_only):
        with pytest.raises(ConfigurationError, match="recoverable_submits"):
            check_provider_class("x", cls)
    bad = make(ops, **BASIC, videoprovider_recover_submit=1)
    bad.recoverable_submits = "not a key"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="recoverable_submits"):
        check_provider_class("x", bad)


def test_a_status_stream_needs_the_watch_hook_and_the_hook_needs_the_declaration() -> None:
    ops = {Operation.SUBMIT, Operation.STATUS}
    both = make(ops, **BASIC, videoprovider_watch=1)
    both.status_stream = True  # type: ignore[attr-defined]
    check_provider_class("ok", both)
    declared_only = make(ops, **BASIC)
    declared_only.status_stream = True  # type: ignore[attr-defined]
    hook_only = make(ops, **BASIC, videoprovider_watch=1)
    for cls in (declared_only, hook_only):
        with pytest.raises(ConfigurationError, match="status_stream"):
            check_provider_class("x", cls)
    bad = make(ops, **BASIC, videoprovider_watch=1)
    bad.status_stream = "yes"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="status_stream"):
        check_provider_class("x", bad)
