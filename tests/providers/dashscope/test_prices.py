"""DashScope's official price table: per region, dated, sourced, and the cap refusing unsent."""

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from videoprovider import AsyncVideoClient, RequestRejected, VideoClient, VirtualClock
from videoprovider.cli import main
from videoprovider.models import Billed
from videoprovider_dashscope import wire
from videoprovider_dashscope.catalog import family_of
from videoprovider_dashscope.emulator import RunningEmulator, run_subprocess
from videoprovider_dashscope.prices import PRICES, markdown_table
from videoprovider_dashscope.testing import TEST_KEY

from .conftest import KEY, Recorder, ok_submit

pytestmark = pytest.mark.anyio
DOC = Path(__file__).parents[3] / "docs" / "providers" / "dashscope.md"


def client(recorder: Recorder, **settings: str) -> AsyncVideoClient:
    return AsyncVideoClient(
        "dashscope",
        config=False,
        environ={},
        clock=VirtualClock(),
        transport=httpx.MockTransport(recorder),
        api_key=KEY,
        **settings,
    )


def test_every_price_is_sourced_dated_and_for_a_catalogued_model() -> None:
    for price in PRICES:
        assert price.source.startswith(
            ("https://www.alibabacloud.com/help/", "https://help.aliyun.com/zh/")
        )
        assert price.as_of is not None and family_of(price.model) is not None
        assert (price.region, price.currency) in (("singapore", "USD"), ("beijing", "CNY"))


def test_the_docs_print_the_price_table() -> None:
    assert markdown_table() in DOC.read_text()


async def test_estimates_use_the_prices_of_the_region_sent_to() -> None:
    async with client(Recorder(), region="singapore") as intl:
        found = intl.estimate("a cat", model="wan2.1-t2v-turbo")
        assert (found.amount, found.currency) == (Decimal("0.180"), "USD")
        assert "5 s" in found.basis and found.as_of is not None
        assert not intl.estimate("a cat", model="wan2.6-t2v", duration=5).known
    async with client(Recorder(), region="beijing") as cn:
        found = cn.estimate("a cat", model="wan2.2-t2v-plus", size="1920*1080")
        assert (found.amount, found.currency) == (Decimal("3.50"), "CNY")
    async with client(Recorder(), base_url="http://127.0.0.1:9/api/v1") as local:
        assert "no known price" in local.estimate("a cat", model="wan2.1-t2v-turbo").basis


async def test_a_submit_over_max_cost_sends_no_request() -> None:
    recorder = Recorder(ok_submit())
    async with client(recorder, region="singapore") as c:
        with pytest.raises(RequestRejected, match=r"0.180 USD .* exceeds max_cost 0.10 USD"):
            await c.submit("a cat", model="wan2.1-t2v-turbo", max_cost="0.10")
        with pytest.raises(RequestRejected, match="cost is unknown"):
            await c.submit("a cat", model="wan2.6-t2v", duration=5, max_cost=10)
        assert recorder.requests == []
        task = await c.submit("a cat", model="wan2.1-t2v-turbo", max_cost="0.18 USD")
    assert task.task_id == "t-1" and len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("usage", "billed"),
    [
        (
            {"video_duration": 5, "video_count": 1, "SR": 720},
            Billed(seconds=5, resolution="720P", videos=1),
        ),
        ({"duration": 15, "SR": "1080", "ratio": "16:9"}, Billed(seconds=15, resolution="1080P")),
        ({"video_duration": "10", "SR": "480P"}, Billed(seconds=10, resolution="480P")),
        ({"SR": True, "video_duration": -1, "video_count": "many"}, None),
        ({"input_tokens": 3}, None),
        ({"video_duration": 10**400, "SR": "1e999"}, None),
        ("5 s", None),
        (None, None),
    ],
)
def test_usage_is_read_as_billed_seconds_and_tier_whatever_its_shape(
    usage: object, billed: Billed | None
) -> None:
    assert wire.billed(usage) == billed


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
USAGE_KEYS = st.sampled_from(["video_duration", "duration", "SR", "video_count", "ratio"])


@given(st.dictionaries(USAGE_KEYS, JSON) | JSON)
def test_any_usage_report_is_read_or_ignored_never_an_error(usage: object) -> None:
    found = wire.billed(usage)
    assert found is None or isinstance(found, Billed)


def test_a_succeeded_emulator_task_costs_what_its_usage_says(
    dashscope_emulator: RunningEmulator, dashscope_clock: VirtualClock, tmp_path: Path
) -> None:
    config = tmp_path / "prices.toml"
    config.write_text(
        '[[prices.dashscope]]\nmodel = "wan2.6-t2v"\nper_second = 0.10\ncurrency = "USD"\n'
    )
    with VideoClient(
        "dashscope",
        config=config,
        environ={},
        clock=dashscope_clock,
        api_key=TEST_KEY,
        base_url=dashscope_emulator.base_url,
    ) as client:
        status = client.wait(client.submit("a cat", model="wan2.6-t2v", duration=10))
    assert status.usage == {"video_duration": 10, "video_count": 1, "SR": 720}
    assert status.cost is not None and status.cost.actual
    assert str(status.cost).startswith("actual 1.0 USD (10 s x 720P at 0.1 USD/s")


def test_tasks_list_shows_the_actual_cost_of_a_completed_emulator_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "prices.toml"
    config.write_text(
        '[[prices.dashscope]]\nmodel = "wan2.6-t2v"\nresolution = "1080P"\nper_second = 0.15\n'
        'currency = "USD"\n'
    )
    with run_subprocess(
        "--api-key", TEST_KEY, "--task-seconds", "60", "--time-scale", "600", "--qps-limit", "0"
    ) as emu:
        for name, value in {
            "VIDEOPROVIDER_PROVIDER": "dashscope",
            "VIDEOPROVIDER_CONFIG": str(config),
            "DASHSCOPE_BASE_URL": emu.base_url,
            "DASHSCOPE_API_KEY": TEST_KEY,
            "VIDEOPROVIDER_POLL_INTERVAL": "0.05",
            "VIDEOPROVIDER_POLL_MAX_INTERVAL": "0.1",
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        args = ["generate", "a cat", "-o", "cat.mp4", "--model", "wan2.6-t2v", "-q"]
        done = CliRunner().invoke(main, [*args, "--duration", "10", "--size", "1920*1080"])
        assert done.exit_code == 0, done.output
        listed = CliRunner().invoke(main, ["--json", "tasks", "list"])
    [row] = json.loads(listed.stdout)
    assert (row["estimate"], row["actual_cost"], row["currency"]) == ("1.50", "1.50", "USD")
    assert row["cost_basis"] == "10 s x 1080P at 0.15 USD/s (wan2.6-t2v)"
    assert TEST_KEY not in listed.output


def test_cli_estimate_needs_no_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DASHSCOPE_API_KEY", "WANAI_API_KEY", "VIDEOPROVIDER_DASHSCOPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIDEOPROVIDER_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    args = ["--provider", "dashscope", "estimate", "a cat", "--model", "wan2.1-t2v-turbo"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0.180 USD\nbasis: 5 s") and "unused" not in result.output
    # Anything else wrong is still said, without the stand-in for the key.
    monkeypatch.setenv("DASHSCOPE_REGION", "mars")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "dashscope.region" in result.stderr
    assert "api_key" not in result.stderr
