"""The [replicate] settings: token from the environment, https only, secrets hidden."""

import pytest
from pydantic import ValidationError

from videoprovider import ConfigurationError, VideoClient
from videoprovider_replicate.settings import DEFAULT_BASE_URL, ReplicateSettings

TOKEN = "sk-test-settings-0123456789"


def test_token_comes_from_replicate_api_token_and_never_prints() -> None:
    with VideoClient("replicate", config=False, environ={"REPLICATE_API_TOKEN": TOKEN}) as client:
        assert client is not None
    settings = ReplicateSettings(api_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.base_url == DEFAULT_BASE_URL


def test_missing_token_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="api_token"):
        VideoClient("replicate", config=False, environ={})


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.replicate.com/v1/", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:9/v1", True),
        ("http://api.replicate.com/v1", False),
        ("ftp://api.replicate.com/v1", False),
    ],
)
def test_cleartext_base_url_is_refused_except_to_loopback(url: str, ok: bool) -> None:
    if ok:
        assert not ReplicateSettings(api_token=TOKEN, base_url=url).base_url.endswith("/")
    else:
        with pytest.raises(ValidationError, match="base_url"):
            ReplicateSettings(api_token=TOKEN, base_url=url)


def test_the_docs_list_every_setting() -> None:
    from pathlib import Path

    from videoprovider.config import settings_table

    doc = Path(__file__).resolve().parents[3] / "docs" / "providers" / "replicate.md"
    assert settings_table(ReplicateSettings, "VIDEOPROVIDER_REPLICATE_") in doc.read_text()


SECRET = "whsec_c2stdGVzdC13ZWJob29rLWtleQ=="  # base64 of "sk-test-webhook-key"


def test_webhook_settings_default_to_polling_only() -> None:
    settings = ReplicateSettings(api_token=TOKEN)
    assert settings.webhook_url is None and settings.webhook_secret is None
    assert settings.webhook_events == ("completed",)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://host.example/replicate-hook", True),
        ("http://127.0.0.1:8000/hook", True),
        ("http://host.example/hook", False),
        ("host.example/hook", False),
    ],
)
def test_webhook_url_must_be_https_except_to_loopback(url: str, ok: bool) -> None:
    if ok:
        assert ReplicateSettings(api_token=TOKEN, webhook_url=url).webhook_url == url
    else:
        with pytest.raises(ValidationError, match="webhook_url"):
            ReplicateSettings(api_token=TOKEN, webhook_url=url)


def test_webhook_events_are_checked_and_read_from_a_comma_list() -> None:
    given = ReplicateSettings(api_token=TOKEN, webhook_events=" start, completed,start")
    assert given.webhook_events == ("start", "completed")
    for bad in (["completed", "finished"], [], "finished"):
        with pytest.raises(ValidationError, match="start, output, logs, completed"):
            ReplicateSettings(api_token=TOKEN, webhook_events=bad)


def test_webhook_settings_come_from_the_environment_and_the_secret_never_prints() -> None:
    environ = {
        "REPLICATE_API_TOKEN": TOKEN,
        "VIDEOPROVIDER_REPLICATE_WEBHOOK_URL": "https://host.example/hook",
        "VIDEOPROVIDER_REPLICATE_WEBHOOK_EVENTS": "start,completed",
        "VIDEOPROVIDER_REPLICATE_WEBHOOK_SECRET": SECRET,
    }
    with VideoClient("replicate", config=False, environ=environ) as client:
        assert client is not None
    settings = ReplicateSettings(api_token=TOKEN, webhook_secret=SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())


def test_a_malformed_webhook_secret_is_refused_without_echoing_it() -> None:
    environ = {"REPLICATE_API_TOKEN": TOKEN, "VIDEOPROVIDER_REPLICATE_WEBHOOK_SECRET": "sk-test-x!"}
    with pytest.raises(ConfigurationError, match="webhook_secret") as info:
        VideoClient("replicate", config=False, environ=environ)
    assert "sk-test-x!" not in str(info.value)
