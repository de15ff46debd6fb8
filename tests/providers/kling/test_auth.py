"""The request token: signed with PyJWT, renewed before it ends, verified by the emulator."""

import json
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from videoprovider import VideoClient
from videoprovider.clock import VirtualClock
from videoprovider.errors import AuthenticationError, ConfigurationError
from videoprovider_kling.auth import ApiKey, TokenSigner
from videoprovider_kling.emulator import (
    TEST_ACCESS_KEY,
    TEST_API_KEY,
    TEST_SECRET_KEY,
    RunningEmulator,
)
from videoprovider_kling.emulator.tokens import check_token

AK, SK = "ak-test-unit", "sk-test-unit-0123456789abcdef0123456789"


def signer(clock: VirtualClock, lifetime: int = 1800) -> TokenSigner:
    return TokenSigner(SecretStr(AK), SecretStr(SK), clock, lifetime)


def test_the_token_has_the_documented_claims() -> None:
    clock = VirtualClock()
    token = signer(clock).token()
    claims = jwt.decode(token, SK, algorithms=["HS256"], options={"verify_exp": False,
                                                                  "verify_nbf": False})  # fmt: skip
    now = int(clock.now().timestamp())
    assert claims == {"iss": AK, "exp": now + 1800, "nbf": now - 5}
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_the_token_is_reused_then_renewed_before_it_expires() -> None:
    clock = VirtualClock()
    tokens = signer(clock)
    first = tokens.token()
    clock.advance(1400)
    assert tokens.token() == first
    clock.advance(150)  # 250 s before exp: inside the renewal margin
    second = tokens.token()
    assert second != first
    assert check_token(f"Bearer {second}", {AK: SK}, clock.now().timestamp()) is None


def test_a_short_secret_key_signs_without_a_warning() -> None:
    import warnings

    short = TokenSigner(SecretStr(AK), SecretStr("sk-test-short"), VirtualClock())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert short.token()


def test_the_secret_never_shows_in_the_signer_or_the_settings() -> None:
    from videoprovider_kling.settings import KlingSettings

    settings = KlingSettings(access_key=AK, secret_key=SK)
    assert SK not in repr(settings) + str(settings) + repr(signer(VirtualClock()))


def bearer(claims: dict[str, object], key: str = SK) -> str:
    return "Bearer " + jwt.encode(claims, key, algorithm="HS256")


NOW = 1_800_000_000
BAD_TOKENS = {
    "empty": ("", 1001),
    "malformed": ("Bearer not-a-jwt", 1002),
    "bad-signature": (bearer({"iss": AK, "exp": NOW + 60, "nbf": NOW}, "sk-test-wrong" * 3), 1002),
    "wrong-issuer": (bearer({"iss": "ak-other", "exp": NOW + 60, "nbf": NOW}), 1002),
    "not-yet-valid": (bearer({"iss": AK, "exp": NOW + 60, "nbf": NOW + 30}), 1003),
    "expired": (bearer({"iss": AK, "exp": NOW - 1, "nbf": NOW - 60}), 1004),
    "no-exp": (bearer({"iss": AK, "nbf": NOW}), 1002),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_the_emulator_refuses_bad_tokens_with_kling_s_codes(case: str) -> None:
    authorization, code = BAD_TOKENS[case]
    refused = check_token(authorization, {AK: SK}, NOW)
    assert refused is not None and refused[0] == code


def test_a_client_whose_clock_runs_ahead_is_told_to_check_it(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    ahead = VirtualClock(start=kling_clock.now() + timedelta(hours=1))
    with (
        VideoClient(
            "kling",
            config=False,
            environ={},
            clock=ahead,
            access_key=TEST_ACCESS_KEY,
            secret_key=TEST_SECRET_KEY,
            base_url=kling_emulator.base_url,
        ) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.submit("a cat")
    assert caught.value.code == "1003" and "clock" in str(caught.value)
    assert not kling_emulator.service.tasks


def test_a_wrong_secret_is_an_authentication_error(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    with (
        VideoClient(
            "kling",
            config=False,
            environ={},
            clock=kling_clock,
            access_key=TEST_ACCESS_KEY,
            secret_key="sk-test-wrong-0123456789abcdef0123456789",
            base_url=kling_emulator.base_url,
        ) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.submit("a cat")
    assert caught.value.code == "1002"
    assert "sk-test-wrong" not in str(caught.value)


def test_tokens_signed_over_a_long_wait_stay_valid(
    kling_client: VideoClient, kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    task = kling_client.submit("a cat")
    kling_clock.advance(3 * 3600)  # six token lifetimes later
    assert kling_client.status(task).state.value == "COMPLETED"


# -- the API key (Kling's current auth, beside the key pair) ------------------------------


def test_an_api_key_alone_is_the_bearer_token_and_generates_end_to_end(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock, tmp_path: Path
) -> None:
    with VideoClient(
        "kling", config=False, environ={}, clock=kling_clock, api_key=TEST_API_KEY,
        base_url=kling_emulator.base_url,
    ) as client:  # fmt: skip
        result = client.generate("a cat", tmp_path / "cat.mp4")
        report = json.dumps(client.settings_report(), default=str)
    assert result.status.state.value == "COMPLETED" and (tmp_path / "cat.mp4").stat().st_size
    assert TEST_API_KEY not in report
    assert ApiKey(SecretStr(TEST_API_KEY)).authorization() == f"Bearer {TEST_API_KEY}"
    assert TEST_API_KEY not in repr(ApiKey(SecretStr(TEST_API_KEY)))


def test_the_api_key_wins_over_the_key_pair(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    with VideoClient(
        "kling", config=False, environ={}, clock=kling_clock, api_key=TEST_API_KEY,
        access_key=TEST_ACCESS_KEY, secret_key="sk-test-wrong-0123456789abcdef0123456789",
        base_url=kling_emulator.base_url,
    ) as client:  # fmt: skip
        assert client.submit("a cat").task_id.startswith("t2v-")


def test_a_wrong_api_key_is_an_authentication_error_that_never_shows_it(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    wrong = "sk-test-wrong-api-key-0123456789"
    with (
        VideoClient(
            "kling", config=False, environ={}, clock=kling_clock, api_key=wrong,
            base_url=kling_emulator.base_url,
        ) as client,
        pytest.raises(AuthenticationError) as caught,
    ):  # fmt: skip
        client.submit("a cat")
    assert caught.value.code == "1002" and "KLING_API_KEY" in (caught.value.hint or "")
    assert wrong not in str(caught.value) + repr(caught.value)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({}, "api_key"),
        ({"access_key": TEST_ACCESS_KEY}, "secret_key"),
        ({"secret_key": TEST_SECRET_KEY}, "access_key"),
        ({"api_key": "  "}, "api_key"),
    ],
)
def test_missing_credentials_are_refused_before_any_request_naming_the_setting(
    kling_emulator: RunningEmulator, given: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named) as caught:
        VideoClient("kling", config=False, environ={}, base_url=kling_emulator.base_url, **given)
    assert "KLING_" in str(caught.value)
    assert TEST_SECRET_KEY not in str(caught.value)
    assert kling_emulator.service.requests == []


def test_the_api_key_comes_from_kling_api_key(
    kling_emulator: RunningEmulator, kling_clock: VirtualClock
) -> None:
    environ = {"KLING_API_KEY": TEST_API_KEY}
    with VideoClient(
        "kling", config=False, environ=environ, clock=kling_clock,
        base_url=kling_emulator.base_url,
    ) as client:  # fmt: skip
        assert client.submit("a cat").task_id.startswith("t2v-")
