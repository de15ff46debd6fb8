"""Prices as data, estimates, and the max_cost cap: refused before anything is sent."""

import inspect
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from videoprovider import (
    AsyncVideoClient,
    ConfigurationError,
    RequestRejected,
    Task,
    VideoClient,
    VideoRequest,
    VirtualClock,
    hookimpl,
)
from videoprovider.catalog import ModelInfo, ModelKind
from videoprovider.cli import main
from videoprovider.prices import Estimate, Price, check_cap, estimate, parse_cap
from videoprovider.provider import Declaration, Operation, ProviderSettings

pytestmark = pytest.mark.anyio

ONE_RATE = "exactly one of per_second, per_video, per_compute_second"

TABLE = (
    Price(
        model="m-*",
        resolution="480P",
        per_second=Decimal("0.10"),
        currency="usd",
        source="https://example.test/prices",
        as_of=date(2025, 1, 2),
    ),
    Price(
        model="m-*",
        resolution="1080P",
        per_second=Decimal("0.50"),
        currency="USD",
        source="https://example.test/prices",
        as_of=date(2025, 1, 2),
    ),
    Price(model="flat", per_video=Decimal("2"), currency="CNY", region="beijing"),
)
FIVE_ONLY = (ModelInfo(id="m-*", kind=ModelKind.TEXT_TO_VIDEO, durations=(5,)),)

PRICES_TOML = """
[[prices.fake]]
model = "fake-*"
per_second = 0.25
currency = "USD"
"""


def test_a_price_needs_exactly_one_rate_and_a_currency_code() -> None:
    with pytest.raises(ValidationError, match=ONE_RATE):
        Price(model="m", currency="USD")
    with pytest.raises(ValidationError, match=ONE_RATE):
        Price(model="m", currency="USD", per_second=1, per_video=1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="3-letter code"):
        Price(model="m", currency="dollars", per_second=1)  # type: ignore[arg-type]
    assert TABLE[0].currency == "USD" and TABLE[0].rate == "0.10 USD/s"


def test_estimate_multiplies_seconds_by_the_tier_rate_and_keeps_source_and_date() -> None:
    found = estimate(
        VideoRequest(prompt="p", model="m-1", duration=4, resolution="1080p"), prices=TABLE
    )
    assert found.amount == Decimal("2.00") and found.currency == "USD"
    assert found.basis == "4 s x 1080P at 0.50 USD/s (m-1)"
    assert found.as_of == date(2025, 1, 2) and found.source == "https://example.test/prices"


def test_an_exact_size_is_priced_at_its_tier_and_a_single_duration_is_assumed() -> None:
    found = estimate(
        VideoRequest(prompt="p", model="m-1", size="624*624"), prices=TABLE, models=FIVE_ONLY
    )
    assert found.amount == Decimal("0.50") and "5 s x 480P" in found.basis


@pytest.mark.parametrize(
    ("fields", "region", "why"),
    [
        ({}, None, "no model is set"),
        ({"model": "other"}, None, "no known price for other"),
        ({"model": "m-1", "duration": 5}, None, "costs differently by resolution"),
        ({"model": "m-1", "resolution": "1080P"}, None, "no duration is set"),
        (
            {"model": "m-1", "resolution": "720P", "duration": 5},
            None,
            "no known price for m-1 at 720P",
        ),
        ({"model": "flat"}, "singapore", "no known price for flat in region singapore"),
    ],
)
def test_an_estimate_without_a_fitting_price_is_unknown_and_says_why(
    fields: dict[str, Any], region: str | None, why: str
) -> None:
    found = estimate(VideoRequest(prompt="p", **fields), prices=TABLE, region=region)
    assert not found.known and found.amount is None and why in found.basis


def test_a_per_video_price_applies_in_its_region_only() -> None:
    found = estimate(VideoRequest(prompt="p", model="flat"), prices=TABLE, region="beijing")
    assert (found.amount, found.currency) == (Decimal("2"), "CNY")


def test_rows_given_first_replace_the_table_for_that_model() -> None:
    mine = Price(model="m-1", per_second=Decimal("0.05"), currency="USD", source="mine")
    found = estimate(
        VideoRequest(prompt="p", model="m-1", duration=2, resolution="1080P"), prices=(mine, *TABLE)
    )
    assert found.amount == Decimal("0.10") and found.source == "mine"


def test_the_cap_refuses_an_estimate_above_it_naming_both() -> None:
    found = Estimate(amount=Decimal("2.00"), currency="USD", basis="4 s x 1080P at 0.50 USD/s")
    check_cap(found, "2", allow_unknown=False)
    check_cap(found, "2.00 usd", allow_unknown=False)
    with pytest.raises(
        RequestRejected, match=r"estimate 2.00 USD .* exceeds max_cost 1.5 USD"
    ) as e:
        check_cap(found, 1.5, allow_unknown=False)
    assert e.value.field == "max_cost"
    with pytest.raises(RequestRejected, match=r"estimate is in USD .* max_cost is 9 CNY"):
        check_cap(found, "9 CNY", allow_unknown=False)


def test_an_unknown_estimate_under_a_cap_is_refused_unless_allowed() -> None:
    unknown = Estimate(basis="no known price for x")
    with pytest.raises(RequestRejected, match=r"cost is unknown \(no known price for x\)") as e:
        check_cap(unknown, 1, allow_unknown=False)
    assert "allow_unknown_cost=True" in str(e.value)
    check_cap(unknown, 1, allow_unknown=True)


@pytest.mark.parametrize("bad", ["lots", "-1", "1 dollars", "nan"])
def test_a_cap_that_is_not_an_amount_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(RequestRejected, match=r"max_cost .* is not an amount"):
        parse_cap(bad)


def test_a_provider_declaring_prices_wrongly_is_refused_at_load() -> None:
    class Bad:
        capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
        Settings = ProviderSettings
        prices = ({"model": "x"},)

    with pytest.raises(ConfigurationError, match="declares `prices` wrongly"):
        Declaration.of(Bad, "bad")
    assert (
        Declaration.of(
            type("Ok", (), {"capabilities": Bad.capabilities, "Settings": ProviderSettings})
        ).prices
        == ()
    )


# -- through the client, async and sync ---------------------------------------------------


class Submitted:
    def __init__(self) -> None:
        self.tasks: list[Task] = []

    @hookimpl
    def videoprovider_task_submitted(self, task: Task) -> None:
        self.tasks.append(task)


MakeClient = Callable[..., Any]


@pytest.fixture(params=["async", "sync"])
async def make_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeClient]:
    made: list[Any] = []
    config = tmp_path / "videoprovider.toml"
    config.write_text(PRICES_TOML)

    def make() -> Any:
        cls = AsyncVideoClient if request.param == "async" else VideoClient
        made.append(cls("fake", config=config, environ={}, clock=VirtualClock()))
        return made[-1]

    yield make
    for client in made:
        if isinstance(client, AsyncVideoClient):
            await client.aclose()
        else:
            client.close()


async def _call(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def test_the_client_estimates_from_the_config_files_prices(make_client: MakeClient) -> None:
    client = make_client()
    found = client.estimate("a cat", model="fake-1", duration=4)
    assert found.amount == Decimal("1.00") and found.currency == "USD"
    assert "config file" in found.source
    assert not client.estimate("a cat", model="other", duration=4).known


async def test_a_submit_over_max_cost_is_refused_before_anything_is_sent(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client()
    sent = Submitted()
    client.register(sent)
    with pytest.raises(RequestRejected, match=r"estimate 1.00 USD .* exceeds max_cost 0.5 USD"):
        await _call(client.submit("a cat", model="fake-1", duration=4, max_cost=0.5))
    with pytest.raises(RequestRejected, match="cost is unknown"):
        await _call(client.generate("a cat", tmp_path / "a.mp4", model="x", max_cost="9"))
    assert sent.tasks == [] and not (tmp_path / "a.mp4").exists()
    await _call(client.submit("a cat", model="x", max_cost="9", allow_unknown_cost=True))
    await _call(client.submit("a cat", model="fake-1", duration=4, max_cost="1.00 USD"))
    assert len(sent.tasks) == 2


def test_a_malformed_prices_table_is_a_configuration_error_at_start(tmp_path: Path) -> None:
    config = tmp_path / "videoprovider.toml"
    config.write_text('[[prices.fake]]\nmodel = "x"\ncurrency = "USD"\n')
    with pytest.raises(
        ConfigurationError, match=r"Price 1 of \[\[prices.fake\]\] .* exactly one of"
    ):
        VideoClient("fake", config=config, environ={})


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    config = tmp_path / "cfg.toml"
    config.write_text(PRICES_TOML)
    monkeypatch.setenv("VIDEOPROVIDER_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_estimate_prints_amount_basis_and_date(cli_env: Path) -> None:
    result = CliRunner().invoke(main, ["estimate", "a cat", "--model", "fake-1", "--duration", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0.50 USD\nbasis: 2 s x any resolution at 0.25 USD/s")
    result = CliRunner().invoke(main, ["--json", "estimate", "a cat", "--model", "other"])
    assert json.loads(result.stdout)["amount"] is None


def test_cli_submit_with_max_cost_refuses_and_journals_nothing(cli_env: Path) -> None:
    args = ["submit", "a cat", "--model", "fake-1", "--duration", "4", "--max-cost", "0.10"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "exceeds max_cost 0.10 USD" in result.stderr
    result = CliRunner().invoke(main, ["--json", "tasks", "list"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    ok = CliRunner().invoke(
        main, ["submit", "a cat", "--model", "x", "--max-cost", "1", "--allow-unknown-cost"]
    )
    assert ok.exit_code == 0, ok.output


def test_cli_models_shows_prices_next_to_models(cli_env: Path) -> None:
    (cli_env / "cfg.toml").write_text(PRICES_TOML.replace("fake-*", "*"))
    result = CliRunner().invoke(main, ["--json", "--provider", "fake", "models"])
    rows = json.loads(result.stdout)
    assert rows and all(r["prices"][0]["per_second"] == "0.25" for r in rows)
    table = CliRunner().invoke(main, ["--provider", "fake", "models"]).stdout
    assert "PRICES" in table.splitlines()[0] and "0.25 USD/s" in table


@pytest.mark.parametrize("method", ["submit", "generate"])
def test_the_sync_twin_takes_the_same_cost_arguments(method: str) -> None:
    def cost_params(fn: Any) -> list[str]:
        names = inspect.signature(fn).parameters
        return [n for n in ("max_cost", "allow_unknown_cost") if n in names]

    sync, aio = getattr(VideoClient, method), getattr(AsyncVideoClient, method)
    assert cost_params(sync) == cost_params(aio) == ["max_cost", "allow_unknown_cost"]
