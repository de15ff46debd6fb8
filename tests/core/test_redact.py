"""A password in a URL (a base_url such as https://user:PW@host) is never shown."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from videoprovider import AsyncVideoClient, VirtualClock
from videoprovider.download import redact_http_logs
from videoprovider.errors import ProviderUnavailable, VideoProviderError
from videoprovider.redact import redact_url, redact_userinfo

PASSWORD = "sk-test-PW-0123456789"

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    with socket.socket() as s:  # bound, never listening: connections are refused at once
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("provider", "settings"),
    [
        ("replicate", {"api_token": "sk-test-0123456789abcdef"}),
        ("dashscope", {"api_key": "sk-test-0123456789abcdef"}),
    ],
)
async def test_a_password_in_base_url_never_appears_in_an_error(
    provider: str, settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base_url = f"http://user:{PASSWORD}@127.0.0.1:{closed_port()}"
    if provider == "dashscope":
        base_url += "/api/v1"
    async with AsyncVideoClient(
        provider,
        config=False,
        environ={},
        clock=VirtualClock(),
        base_url=base_url,
        max_retries=0,
        submit_retries=0,
        **settings,
    ) as client:
        with pytest.raises(VideoProviderError) as info:
            await client.status(f"{provider}:gm3qorzdhgbfurvjtvhg6dckhu")
        with pytest.raises(ProviderUnavailable) as submit:
            await client.submit("a cat")
        shown = [str(info.value), repr(info.value), str(submit.value), repr(submit.value)]
        shown += [caplog.text, repr(client)]
    for text in shown:
        assert PASSWORD not in text
    if provider == "dashscope":  # its message names the API root: the host, not the password
        assert "127.0.0.1" in str(submit.value) and "***@" in str(submit.value)


def test_every_error_redacts_userinfo_wherever_its_message_was_written() -> None:
    err = VideoProviderError(
        f"could not reach https://me:{PASSWORD}@api.example/v1 or ftp://u:{PASSWORD}@h/",
        hint=f"check postgresql://app:{PASSWORD}@db/x",
    )
    assert PASSWORD not in str(err) and PASSWORD not in err.message + (err.hint or "")
    assert "https://***@api.example/v1" in err.message


def test_redact_url_drops_userinfo_query_and_fragment() -> None:
    assert redact_url(f"https://u:{PASSWORD}@h.example/p?sig=1#f") == "https://***@h.example/p"
    assert redact_userinfo("no url here: a@b") == "no url here: a@b"


def test_httpx_request_logs_drop_passwords(caplog: pytest.LogCaptureFixture) -> None:
    redact_http_logs()
    caplog.set_level(logging.INFO, logger="httpx")
    url = httpx.URL(f"https://u:{PASSWORD}@h.example/v.mp4")
    logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", url)
    assert PASSWORD not in caplog.text and "h.example" in caplog.text


def test_settings_reprs_show_no_url_password_and_no_secret_typed_as_str() -> None:
    from pydantic import Field

    from videoprovider.config import CoreSettings
    from videoprovider.provider import ProviderSettings
    from videoprovider_replicate.settings import ReplicateSettings

    class Flagged(ProviderSettings):
        token: str = Field(json_schema_extra={"secret": True})

    shown = [
        repr(ReplicateSettings(api_token="sk-test-0", base_url=f"https://u:{PASSWORD}@h.x/v1")),
        str(CoreSettings(journal_url=f"postgresql://app:{PASSWORD}@db/video")),
        repr(Flagged(token=PASSWORD)),
    ]
    for text in shown:
        assert PASSWORD not in text
    assert "https://***@h.x/v1" in shown[0] and "postgresql://***@db/video" in shown[1]
