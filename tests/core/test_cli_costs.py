"""The cost commands and options: --max-cost and --max-spend refuse unsent, `tasks list` and
`tasks show` print estimate and actual cost, `costs` totals them."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from videoprovider.cli import main
from videoprovider.journal import open_journal

PRICES = '[[prices.fake]]\nmodel = "*"\nper_second = 0.02\ncurrency = "USD"\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("VIDEOPROVIDER_PROVIDER", "VIDEOPROVIDER_MAX_SPEND", "VIDEOPROVIDER_JOURNAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    (tmp_path / "cfg.toml").write_text(PRICES)
    monkeypatch.setenv("VIDEOPROVIDER_CONFIG", str(tmp_path / "cfg.toml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def as_json(*args: str) -> Any:
    result = cli("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_over_max_cost_sends_nothing_and_says_why(home: Path) -> None:
    result = cli(
        "generate",
        "a cat",
        "-o",
        "cat.mp4",
        "--model",
        "fake-1",
        "--duration",
        "10",
        "--max-cost",
        "0.1",
    )
    assert result.exit_code == 1
    assert "estimate 0.20 USD (10 s x any resolution at 0.02 USD/s" in result.stderr
    assert "exceeds max_cost 0.1 USD" in result.stderr
    assert as_json("tasks", "list") == [] and not (home / "cat.mp4").exists()


def test_tasks_list_and_show_print_the_estimate_and_the_actual_cost(home: Path) -> None:
    assert (
        cli(
            "generate", "a cat", "-o", "cat.mp4", "--model", "fake-1", "--duration", "5", "-q"
        ).exit_code
        == 0
    )
    assert cli("submit", "a dog", "--model", "fake-1", "--duration", "4").exit_code == 0
    done, waiting = as_json("tasks", "list")
    assert (done["estimate"], done["actual_cost"], done["currency"]) == ("0.10", "0.10", "USD")
    assert done["cost_basis"] == "5 s x any resolution at 0.02 USD/s (fake-1)"
    assert (waiting["estimate"], waiting["actual_cost"]) == ("0.08", None)
    table = cli("tasks", "list").stdout.splitlines()
    assert "COST" in table[0]
    assert "0.10 USD " in table[1] and "0.08 USD est." in table[2]
    assert table[0].split()[4:6] == ["TASK", "COST"]  # TASK stays where scripts read it
    shown = cli("tasks", "show", done["id"]).stdout
    assert "actual_cost: 0.10" in shown and "cost: 0.10 USD" in shown
    assert as_json("tasks", "show", waiting["id"])["estimate"] == "0.08"


def test_max_spend_refuses_a_submit_over_the_days_spending(home: Path) -> None:
    assert (
        cli("submit", "a cat", "--model", "fake-1", "--duration", "10").exit_code == 0
    )  # 0.20 USD
    result = cli(
        "submit", "a dog", "--model", "fake-1", "--duration", "10", "--max-spend", "0.30 USD"
    )
    assert result.exit_code == 1
    assert "to 0.40 USD, over 0.30 USD" in result.stderr and ": 0.20 USD" in result.stderr
    result = cli(
        "submit",
        "a dog",
        "--model",
        "fake-1",
        "--duration",
        "5",
        "--max-spend",
        "0.30",
        "--spend-period",
        "week",
    )
    assert result.exit_code == 0, result.output


def test_costs_totals_actual_and_estimated_apart_per_group_and_currency(home: Path) -> None:
    assert (
        cli(
            "generate", "a cat", "-o", "cat.mp4", "--model", "fake-1", "--duration", "5", "-q"
        ).exit_code
        == 0
    )
    assert cli("submit", "a dog", "--model", "m2", "--duration", "4").exit_code == 0
    assert cli("submit", "a bee", "--model", "m2", "--duration", "4").exit_code == 0
    (row,) = as_json("costs")["totals"]
    assert row == {
        "group": "fake",
        "currency": "USD",
        "total": "0.26",
        "actual": "0.10",
        "estimated": "0.16",
        "tasks": 3,
        "actual_tasks": 1,
        "estimated_tasks": 2,
        "unknown_tasks": 0,
    }
    by_model = {r["group"]: r["total"] for r in as_json("costs", "--by", "model")["totals"]}
    assert by_model == {"fake-1": "0.10", "m2": "0.16"}
    (today,) = as_json("costs", "--by", "day")["totals"]
    assert today["group"] == datetime.now(timezone.utc).date().isoformat()
    table = cli("costs").stdout
    assert "0.10 (1)" in table and "0.16 (2)" in table and "ESTIMATED" in table


def test_costs_since_leaves_older_tasks_out(home: Path) -> None:
    assert cli("submit", "a cat", "--model", "fake-1", "--duration", "5").exit_code == 0
    journal = open_journal(home / "xdg-data" / "videoprovider" / "journal.sqlite3")
    old = int((datetime.now(timezone.utc) - timedelta(days=10)).timestamp() * 1000)
    journal._run("UPDATE videoprovider_journal SET created_ms = :old", {"old": old})
    journal.close()
    assert as_json("costs", "--since", "7d")["totals"] == []
    assert len(as_json("costs", "--since", "2w")["totals"]) == 1
    assert cli("costs", "--since", "soon").exit_code == 2
