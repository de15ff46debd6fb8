"""The native API: the full VideoRequest, estimates, costs, providers and models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from videoprovider.config import load_config
from videoprovider.server import create_app
from videoprovider.testing.clocks import HeldClock

from .conftest import write_config

PRICES = '[[prices.fake]]\nmodel = "*"\nper_second = 0.10\ncurrency = "USD"\n'


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    config = write_config(tmp_path, '[server.models]\n"house" = "fake/fake-2"\n', PRICES)
    with TestClient(create_app(load_config(config=config), clock=HeldClock())) as client:
        yield client


def test_a_task_takes_the_whole_video_request(app_client: TestClient) -> None:
    request = {"prompt": "A cat", "negative_prompt": "dogs", "seed": 7, "duration": 5}
    made = app_client.post("/v1/tasks", json={"model": "house", "request": request})
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["request"]["negative_prompt"] == "dogs" and body["request"]["seed"] == 7
    assert body["request"]["model"] == "fake-2"
    assert body["video"]["task"].startswith("fake:") and body["video"]["seconds"] == "5"
    assert app_client.get(f"/v1/tasks/{body['video']['id']}").json()["request"]["seed"] == 7
    same = app_client.get(f"/v1/videos/{body['video']['id']}").json()
    assert same["id"] == body["video"]["id"]


def test_max_cost_refuses_unsent(app_client: TestClient) -> None:
    answer = app_client.post(
        "/v1/tasks", json={"request": {"prompt": "A cat", "duration": 10}, "max_cost": "0.5 USD"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "max_cost"
    assert app_client.get("/v1/videos").json()["data"] == []


def test_a_caller_cannot_send_the_gateways_own_files(app_client: TestClient) -> None:
    answer = app_client.post(
        "/v1/tasks", json={"request": {"prompt": "A cat", "image_url": "/etc/passwd"}}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "request.image_url"
    json_create = app_client.post(
        "/v1/videos", json={"prompt": "A cat", "input_reference": {"image_url": "/etc/hosts"}}
    )
    assert json_create.status_code == 400
    assert json_create.json()["error"]["param"] == "input_reference"


def test_estimates_and_costs(app_client: TestClient) -> None:
    found = app_client.post("/v1/estimates", json={"request": {"prompt": "x", "duration": 4}})
    assert float(found.json()["amount"]) == 0.4 and found.json()["currency"] == "USD"
    app_client.post("/v1/videos", json={"prompt": "x", "seconds": "4"})
    spent = app_client.get("/v1/costs").json()
    assert spent["caller"] == "anonymous" and float(spent["spent"]["USD"]) == 0.4


def test_providers_and_models_list_what_is_installed(app_client: TestClient) -> None:
    providers = {p["name"]: p for p in app_client.get("/v1/providers").json()["data"]}
    assert "cancel" in providers["fake"]["capabilities"]
    assert "cancel" not in providers["dashscope"]["capabilities"]
    models = {m["id"]: m for m in app_client.get("/v1/models").json()["data"]}
    assert "fake/fake" in models and models["house"]["target"] == "fake/fake-2"
