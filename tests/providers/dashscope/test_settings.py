import logging
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import ConfigurationError, VideoClient
from videoprovider.config import load_config
from videoprovider_dashscope.settings import (
    BaseURLWarning,
    DashScopeSettings,
    normalise_base_url,
)

KEY = "sk-test-settings0123456789"


def resolve(environ: dict[str, str], **args: object) -> DashScopeSettings:
    settings, _ = load_config(config=False, environ=environ).resolve_provider(
        "dashscope", DashScopeSettings, args
    )
    return settings


@pytest.mark.parametrize(
    ("region", "root"),
    [
        ("singapore", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("virginia", "https://dashscope-us.aliyuncs.com/api/v1"),
        ("beijing", "https://dashscope.aliyuncs.com/api/v1"),
    ],
)
def test_regions(region: str, root: str) -> None:
    assert DashScopeSettings(api_key=KEY, region=region).api_root() == root  # type: ignore[arg-type]


def test_workspace_regions_need_a_workspace_id() -> None:
    s = DashScopeSettings(api_key=KEY, region="singapore-workspace", workspace_id="ws-42")
    assert s.api_root() == "https://ws-42.ap-southeast-1.maas.aliyuncs.com/api/v1"
    with pytest.raises(ConfigurationError, match="workspace_id"):
        resolve({"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_REGION": "beijing-workspace"})


@pytest.mark.parametrize(
    "workspace_id",
    ["evil.example.com/x?", "a.b", "-ws", "ws-", "w s", "ws\r\nX: y", "x" * 64, ""],
)
def test_workspace_id_must_be_one_hostname_label(workspace_id: str) -> None:
    env = {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_REGION": "singapore-workspace"}
    with pytest.raises(ConfigurationError, match="workspace_id") as info:
        resolve({**env, "DASHSCOPE_WORKSPACE": "ok"}, workspace_id=workspace_id)
    assert "letters, digits" in str(info.value)


def test_workspace_id_of_63_characters_is_accepted() -> None:
    s = DashScopeSettings(api_key=KEY, region="beijing-workspace", workspace_id="W" * 63)
    assert s.api_root() == f"https://{'W' * 63}.cn-beijing.maas.aliyuncs.com/api/v1"


def test_unknown_region_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="singapore"):
        resolve({"DASHSCOPE_API_KEY": KEY}, region="mars")


def test_base_url_overrides_region() -> None:
    s = DashScopeSettings(api_key=KEY, region="beijing", base_url="https://proxy.example/api/v1")
    assert s.api_root() == "https://proxy.example/api/v1"


@pytest.mark.parametrize(
    "url",
    [
        "https://h.example",
        "https://h.example/",
        "https://h.example/api/v1",
        "https://h.example/api/v1/",
    ],
)
def test_canonical_base_urls_pass_silently(url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normalise_base_url(url) == "https://h.example/api/v1"


@pytest.mark.parametrize(
    "url",
    [
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/video-generation/video-synthesis",
        "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/text2video/generation",
    ],
)
def test_wrong_paths_are_corrected_with_one_warning(url: str) -> None:
    with pytest.warns(BaseURLWarning) as record:
        assert normalise_base_url(url) == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert len(record) == 1
    if "compatible-mode" in url:
        assert "does not serve video" in str(record[0].message)


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    path=st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True), max_size=5),
)
def test_any_path_on_a_host_normalises_to_its_api_root(host: str, path: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BaseURLWarning)
        assert normalise_base_url(f"https://{host}/{'/'.join(path)}") == f"https://{host}/api/v1"


@pytest.mark.parametrize("url", ["http://dashscope.aliyuncs.com", "ftp://h/api/v1", "h.example"])
def test_clear_text_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve({"DASHSCOPE_API_KEY": KEY}, base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:1/api/v1", "http://[::1]:9"]
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert resolve({"DASHSCOPE_API_KEY": KEY}, base_url=url).api_root().endswith("/api/v1")


def test_wanai_variables_are_fallbacks() -> None:
    env = {
        "WANAI_API_KEY": "sk-test-wanai",
        "WANAI_BASE_URL": "https://gw.example/api/v1",
        "WANAI_VERSION": "wan2.5-t2v-preview",
    }
    s = resolve(env)
    assert s.api_key.get_secret_value() == "sk-test-wanai"
    assert s.base_url == "https://gw.example/api/v1" and s.model == "wan2.5-t2v-preview"
    s = resolve(
        {**env, "DASHSCOPE_API_KEY": "sk-test-ds", "DASHSCOPE_BASE_URL": "https://ds.example"}
    )
    assert s.api_key.get_secret_value() == "sk-test-ds" and s.base_url == "https://ds.example"


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve({})
    assert "DASHSCOPE_API_KEY" in str(info.value) and "WANAI_API_KEY" in str(info.value)


def test_key_never_appears_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    from videoprovider_dashscope.emulator import EmulatorConfig, run_in_thread

    secret = "sk-test-neverprintme0123456789"
    caplog.set_level(logging.DEBUG)
    with run_in_thread(EmulatorConfig(api_keys=("sk-test-other",))) as emu:
        with VideoClient(
            "dashscope", config=False, environ={}, api_key=secret, base_url=emu.base_url
        ) as client:
            text = repr(client) + str(client.settings_report())
            with pytest.raises(Exception) as info:
                client.submit("a cat")
            text += str(info.value) + repr(info.value)
        recorded = str([r.headers for r in emu.service.requests])
    assert secret not in text + caplog.text + recorded
    assert "neverprintme" not in text + caplog.text + recorded
