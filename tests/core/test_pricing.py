"""A finished task's cost: actual from the usage its provider reported, else the estimate,
on the status, in the journal and on the host event."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from videoprovider import TaskFailed, TaskStatus, VideoClient, VirtualClock, hookimpl
from videoprovider.models import Billed, TaskState, VideoRequest
from videoprovider.prices import Price, actual_cost

TABLE = (
    Price(model="m", resolution="480P", per_second=Decimal("0.10"), currency="USD"),
    Price(model="m", resolution="720P", per_second=Decimal("0.20"), currency="USD"),
    Price(model="flat", per_video=Decimal("2"), currency="CNY"),
    Price(model="gpu", per_compute_second=Decimal("0.001"), currency="USD"),
)
PRICES = '[[prices.fake]]\nmodel = "*"\nper_second = 0.02\ncurrency = "USD"\n'


def test_the_billed_seconds_and_tier_price_the_task_not_the_request() -> None:
    request = VideoRequest(prompt="a cat", model="m", duration=5, resolution="480P")
    cost = actual_cost(request, Billed(seconds=10.0, resolution="720p"), prices=TABLE)
    assert (cost.amount, cost.currency, cost.actual) == (Decimal("2.00"), "USD", True)
    assert cost.basis == "10 s x 720P at 0.20 USD/s (m)"


def test_without_billed_usage_the_estimate_stands_marked_as_such() -> None:
    request = VideoRequest(prompt="a cat", model="m", duration=5, resolution="480P")
    for billed in (None, Billed(resolution="480P")):  # nothing, or no seconds, reported
        cost = actual_cost(request, billed, prices=TABLE)
        assert (cost.amount, cost.actual) == (Decimal("0.50"), False)
        assert str(cost).startswith("estimated 0.50 USD")


def test_per_video_and_per_compute_second_prices() -> None:
    flat = VideoRequest(prompt="a cat", model="flat")
    assert actual_cost(flat, Billed(videos=2), prices=TABLE).amount == Decimal("4")
    gpu = VideoRequest(prompt="a cat", model="gpu")
    before = actual_cost(gpu, None, prices=TABLE)
    assert before.amount is None and "known only once the task has run" in before.basis
    after = actual_cost(gpu, Billed(compute_seconds=42.5), prices=TABLE)
    assert (after.amount, after.actual) == (Decimal("0.0425"), True)
    assert after.basis == "42.5 s of compute at 0.001 USD/compute s (gpu)"


class Finished:
    def __init__(self) -> None:
        self.statuses: list[TaskStatus] = []

    @hookimpl
    def videoprovider_task_finished(self, status: TaskStatus) -> None:
        self.statuses.append(status)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


def make(config: Path, **kw: Any) -> VideoClient:
    return VideoClient("fake", config=config, environ={}, clock=VirtualClock(), **kw)


def test_the_status_the_journal_and_the_finished_event_carry_the_actual_cost(
    config: Path,
) -> None:
    seen = Finished()
    with make(config, journal=config.parent / "j.sqlite3", plugins=[seen]) as client:
        task = client.submit("a cat", model="fake-1", duration=4, resolution="720P")
        status = client.wait(task)
        assert client.journal is not None
        entry = client.journal.get(task.task_id)
    assert status.cost is not None and status.cost.actual
    assert status.cost.amount == Decimal("0.08") and status.billed == Billed(
        seconds=4, resolution="720P"
    )
    assert [s.cost for s in seen.statuses] == [status.cost]
    assert entry is not None and (entry.estimate, entry.actual_cost) == (
        Decimal("0.08"),
        Decimal("0.08"),
    )


def test_a_bare_task_id_is_priced_from_its_journaled_request(config: Path) -> None:
    journal = config.parent / "j.sqlite3"
    with make(config, journal=journal) as client:
        task = client.submit("a cat", model="fake-1", duration=2)
        status = client.wait(task.task_id)  # no request on a bare id: the journal has it
    assert status.cost is not None and status.cost.amount == Decimal("0.04")


def test_failures_carry_no_cost(config: Path) -> None:
    with make(config, scenario="fail") as client:
        task = client.submit("a cat", model="fake-1", duration=2)
        with pytest.raises(TaskFailed):
            client.wait(task)
        assert client.status(task).state is TaskState.FAILED
        assert client.status(task).cost is None


PUSHED = """
import json

from videoprovider.plugin import Operation, ProviderSettings, Task, TaskState, TaskStatus, hookimpl
from videoprovider.plugin import WebhookDelivery
from videoprovider.models import Billed


class Pushed:
    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
    Settings = ProviderSettings
    pushes_updates = True

    def __init__(self, settings, context):
        self.name = context.name

    @hookimpl
    async def videoprovider_submit(self, request):
        return Task(provider=self.name, task_id="p1", request=request)

    @hookimpl
    async def videoprovider_status(self, task_id):
        return TaskStatus(provider=self.name, task_id=task_id, state=TaskState.PROCESSING)

    @hookimpl
    async def videoprovider_webhook(self, headers, body):
        status = TaskStatus(
            provider=self.name, task_id="p1", state=TaskState.COMPLETED,
            billed=Billed(seconds=json.loads(body)["seconds"]),
        )
        return WebhookDelivery(id="d1", status=status)
"""


def test_a_pushed_completion_is_priced_for_the_journal_and_the_event(
    install_dist: Any, tmp_path: Path
) -> None:
    install_dist(
        "pushed-video",
        {"pushed_video": PUSHED},
        {"videoprovider.providers": {"pushed": "pushed_video:Pushed"}},
    )
    config = tmp_path / "prices.toml"
    config.write_text(PRICES.replace("fake", "pushed"))
    seen = Finished()
    with VideoClient(
        "pushed", config=config, environ={}, clock=VirtualClock(), journal=tmp_path / "j.db"
    ) as client:
        client.register(seen)
        client.submit("a cat", model="m", duration=4)  # estimated 0.08
        client.receive_webhook({}, b'{"seconds": 6}')
        assert client.journal is not None
        entry = client.journal.get("p1")
    [status] = seen.statuses
    assert status.cost is not None and status.cost.actual and status.cost.amount == Decimal("0.12")
    assert entry is not None and (entry.estimate, entry.actual_cost) == (
        Decimal("0.08"),
        Decimal("0.12"),
    )


def test_a_bad_prices_row_of_another_provider_leaves_the_task_unpriced_not_unrecorded(
    config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with make(config, journal=config.parent / "j.sqlite3") as client:
        task = client.submit("a cat", model="fake-1", duration=2)
        # As for a provider a task reference loads later: its rows are read only then.
        layers = client.async_client.config.layers
        layers[-1].data["prices"]["fake"].append({"model": "x", "currency": "USD"})
        status = client.wait(task)
        assert client.journal is not None
        entry = client.journal.get(task.task_id)
    assert status.state is TaskState.COMPLETED and status.cost is None
    assert entry is not None and entry.state is TaskState.COMPLETED
    assert "left unpriced" in caplog.text and "exactly one of" in caplog.text
