"""The emulator speaks the protocol over real HTTP on 127.0.0.1."""

import json
import struct
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from videoprovider.clock import VirtualClock
from videoprovider_dashscope.emulator import (
    EmulatorConfig,
    Fault,
    RunningEmulator,
    run_in_thread,
    run_subprocess,
)
from videoprovider_dashscope.emulator.served import SERVED
from videoprovider_dashscope.emulator.service import Stats

KEY = "sk-test-emu0123456789"
SUBMIT = "/api/v1/services/aigc/video-generation/video-synthesis"
BODY = {
    "model": "wan2.6-t2v",
    "input": {"prompt": "a cat"},
    "parameters": {"size": "1280*720", "duration": 5},
}
AUTH = {"Authorization": f"Bearer {KEY}"}
ASYNC = {**AUTH, "X-DashScope-Async": "enable"}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emu(clock: VirtualClock) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(api_keys=(KEY,), task_seconds=100, qps_limit=None, retention=3600)
    with run_in_thread(config, clock=clock) as running:
        yield running


@pytest.fixture
def http(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        yield client


def submit(http: httpx.Client, body: object = BODY) -> str:
    reply = http.post(SUBMIT, json=body, headers=ASYNC)
    assert reply.status_code == 200, reply.text
    out = reply.json()["output"]
    assert out["task_status"] == "PENDING" and reply.json()["request_id"]
    return str(out["task_id"])


def test_task_runs_pending_running_succeeded(http: httpx.Client, clock: VirtualClock) -> None:
    task_id = submit(http)
    out = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).json()["output"]
    assert out["task_status"] == "PENDING" and "submit_time" in out
    clock.advance(50)
    out = http.get(f"/api/v1/tasks/{task_id}/", headers=AUTH).json()["output"]
    assert out["task_status"] == "RUNNING" and "scheduled_time" in out
    clock.advance(60)
    doc = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).json()
    out = doc["output"]
    assert out["task_status"] == "SUCCEEDED" and {
        "end_time",
        "video_url",
        "orig_prompt",
        "actual_prompt",
    } <= set(out)
    assert doc["usage"]["video_count"] == 1
    assert "Signature=" in out["video_url"] and "Expires=" in out["video_url"]
    video = http.get(out["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    size, kind = struct.unpack(">I4s", video.content[:8])
    assert size == 28  # 8-byte header, brand, version, three compatible brands
    assert kind == b"ftyp" and b"moov" in video.content and b"mvhd" in video.content
    assert http.get(out["video_url"].split("?")[0]).status_code == 403


def test_retention_then_unknown(http: httpx.Client, clock: VirtualClock) -> None:
    task_id = submit(http)
    clock.advance(3601)
    reply = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH)
    assert reply.status_code == 200
    assert reply.json()["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    assert http.get("/api/v1/tasks/nope", headers=AUTH).json()["output"]["task_status"] == (
        "UNKNOWN"
    )


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "InvalidApiKey"),
        ({"Authorization": "Bearer sk-test-wrong"}, 401, "InvalidApiKey"),
        (AUTH, 403, "AccessDenied"),
    ],
)
def test_auth_and_async_header(
    http: httpx.Client, headers: dict[str, str], status: int, code: str
) -> None:
    reply = http.post(SUBMIT, json=BODY, headers=headers)
    assert reply.status_code == status and reply.json()["code"] == code
    assert set(reply.json()) == {"request_id", "code", "message"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": {"prompt": "x"}}, 400, "BadRequest.EmptyModel"),
        ({"model": "wan2.6-t2v"}, 400, "BadRequest.EmptyInput"),
        ({**BODY, "model": "wan0-nothing"}, 404, "Model.NotExist"),
        ({**BODY, "parameters": {"duration": 99}}, 400, "InvalidParameter"),
        (
            {"model": "wan2.7-t2v", "input": {"prompt": "x"}, "parameters": {"size": "1280*720"}},
            400,
            "InvalidParameter",
        ),
        ({"model": "wan2.6-i2v", "input": {"prompt": "x"}}, 400, "InvalidParameter"),
    ],
)
def test_body_validation_per_family(
    http: httpx.Client, body: object, status: int, code: str
) -> None:
    reply = http.post(SUBMIT, json=body, headers=ASYNC)
    assert (reply.status_code, reply.json()["code"]) == (status, code)


def test_keyframe_models_only_on_their_path(http: httpx.Client) -> None:
    body = {
        "model": "wan2.2-kf2v-flash",
        "input": {"prompt": "x", "first_frame_url": "a", "last_frame_url": "b"},
    }
    assert http.post(SUBMIT, json=body, headers=ASYNC).status_code == 400
    kf2v = "/api/v1/services/aigc/image2video/video-synthesis"
    assert http.post(kf2v, json=body, headers=ASYNC).status_code == 200


def test_cancel_only_while_pending(http: httpx.Client, clock: VirtualClock) -> None:
    first, second = submit(http), submit(http)
    assert http.post(f"/api/v1/tasks/{first}/cancel", headers=AUTH).status_code == 200
    assert (
        http.get(f"/api/v1/tasks/{first}", headers=AUTH).json()["output"]["task_status"]
        == "CANCELED"
    )
    clock.advance(50)
    reply = http.post(f"/api/v1/tasks/{second}/cancel", headers=AUTH)
    assert reply.status_code == 400 and reply.json()["code"] == "UnsupportedOperation"


def test_list_tasks(http: httpx.Client) -> None:
    ids = [submit(http) for _ in range(3)]
    doc = http.get("/api/v1/tasks", params={"page_no": 1, "page_size": 2}, headers=AUTH).json()
    assert doc["total"] == 3 and doc["total_page"] == 2 and len(doc["data"]) == 2
    assert {row["task_id"] for row in doc["data"]} <= set(ids)


def test_failed_content_marker(http: httpx.Client, clock: VirtualClock) -> None:
    task_id = submit(http, {**BODY, "input": {"prompt": "bad [[fail]]"}})
    clock.advance(200)
    out = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).json()["output"]
    assert out["task_status"] == "FAILED" and out["code"] == "DataInspectionFailed"


def test_query_rate_limit(clock: VirtualClock) -> None:
    with (
        run_in_thread(EmulatorConfig(qps_limit=5), clock=clock) as emu,
        httpx.Client(base_url=emu.base_url) as http,
    ):
        codes = [http.get("/api/v1/tasks/x", headers=AUTH).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        reply = http.get("/api/v1/tasks/x", headers=AUTH)
        if reply.status_code == 429:
            assert reply.json()["code"] == "Throttling.RateQuota"
            assert reply.headers["retry-after"] == "1"
        stats = emu.service.stats.as_dict()
        assert stats["throttled"] >= 1
        assert stats["peak_status_per_second"] == 9 == stats["counts"]["status"]


def test_status_peak_counts_a_sliding_second_of_status_requests() -> None:
    stats = Stats()
    for at in [0.0, 0.5, 0.9, 1.2, 1.4, 3.0]:
        stats.saw_status(at)
    assert stats.status_peak == 4  # 0.5, 0.9, 1.2, 1.4


@pytest.mark.parametrize(
    ("kind", "status"), [("429", 429), ("500", 500), ("503", 503), ("html", 502)]
)
def test_reply_faults(emu: RunningEmulator, http: httpx.Client, kind: str, status: int) -> None:
    emu.service.inject(Fault(kind, match="status", retry_after=4))  # type: ignore[arg-type]
    reply = http.get("/api/v1/tasks/x", headers=AUTH)
    assert reply.status_code == status
    if kind == "429":
        assert reply.headers["retry-after"] == "4"
    assert http.get("/api/v1/tasks/x", headers=AUTH).status_code == 200


def test_malformed_json_fault(emu: RunningEmulator, http: httpx.Client) -> None:
    emu.service.inject(Fault("malformed", match="status"))
    with pytest.raises(json.JSONDecodeError):
        http.get("/api/v1/tasks/x", headers=AUTH).json()


def test_drop_before_and_after(emu: RunningEmulator, http: httpx.Client) -> None:
    emu.service.inject(Fault("drop", match="submit"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(SUBMIT, json=BODY, headers=ASYNC)
    assert emu.service.tasks == {}
    emu.service.inject(Fault("drop_after", match="submit"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(SUBMIT, json=BODY, headers=ASYNC)
    assert len(emu.service.tasks) == 1  # the task exists although no reply came back


def test_slow_reply(emu: RunningEmulator) -> None:
    emu.service.inject(Fault("slow", match="status", delay=0.3))
    with (
        httpx.Client(base_url=emu.base_url, timeout=0.05) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get("/api/v1/tasks/x", headers=AUTH)


def test_content_failure_fault(
    emu: RunningEmulator, http: httpx.Client, clock: VirtualClock
) -> None:
    emu.service.inject(Fault("content_failure", match="submit"))
    task_id = submit(http)
    clock.advance(200)
    assert http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).json()["output"]["code"] == (
        "DataInspectionFailed"
    )


def test_requests_are_recorded_with_the_key_redacted(
    emu: RunningEmulator, http: httpx.Client
) -> None:
    submit(http)
    http.get("/api/v1/tasks/x", headers=AUTH)
    [sent] = emu.service.requests_of("submit")
    assert sent.body == BODY and sent.headers["x-dashscope-async"] == "enable"
    assert KEY not in str(emu.service.requests) and sent.headers["authorization"].endswith(KEY[-4:])
    assert emu.service.stats.as_dict()["counts"] == {"submit": 1, "status": 1}


def test_subprocess_emulator_prints_its_url_and_is_controllable() -> None:
    with run_subprocess("--task-seconds", "0.2", "--api-key", KEY, "--qps-limit", "0") as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=emu.base_url) as http:
            task_id = submit(http)
            emu.inject(Fault("503", match="status"))
            assert http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).status_code == 503
            deadline = time.monotonic() + 10
            state = ""
            while state != "SUCCEEDED" and time.monotonic() < deadline:
                state = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH).json()["output"][
                    "task_status"
                ]
        assert state == "SUCCEEDED"
        assert emu.stats()["counts"]["submit"] == 1 and task_id in emu.done_times()
        assert emu.requests()[0]["path"] == SUBMIT
        emu.reset()
        assert emu.stats()["total"] == 0


def test_the_emulator_answers_malformed_http_with_400_and_keeps_pipelined_order() -> None:
    import socket

    with run_in_thread(EmulatorConfig(qps_limit=None)) as emu:
        host, port = emu.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            # Two pipelined requests in one write: two replies, in order, on one connection.
            sock.sendall(
                b"GET /_emulator/stats HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            replies = b""
            while replies.count(b"HTTP/1.1 ") < 2:
                replies += sock.recv(65536)
            assert replies.startswith(b"HTTP/1.1 200 ")
            assert b"HTTP/1.1 401 " in replies.split(b"\r\n\r\n", 1)[1]  # no key
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
            assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")


def _representative_request(family: object) -> dict[str, object]:
    from videoprovider_dashscope.catalog import Family

    assert isinstance(family, Family)
    img, vid = "https://cdn.example.com/a.png", "https://cdn.example.com/b.mp4"
    fields: dict[str, object] = {}
    if family.kind in ("i2v", "kf2v"):
        fields["image_url"] = img
    if family.kind == "kf2v":
        fields["last_frame_url"] = img
    if family.kind == "r2v":
        fields["reference_urls"] = [img, vid] if family.reference_videos else [img]
    return fields


def _catalogued_bodies() -> list[tuple[str, str, dict[str, object]]]:
    """Every (model, path, body) the provider would send for each value its catalogue allows."""
    import warnings

    from videoprovider import RequestRejected
    from videoprovider.models import VideoRequest
    from videoprovider_dashscope.catalog import FAMILIES, family_of
    from videoprovider_dashscope.emulator.served import SERVED
    from videoprovider_dashscope.request import build_submit

    cases = []
    checked = set()
    for model in SERVED:
        family = family_of(model)
        if family is None or family.unsupported:
            continue
        checked.add(family.name)
        base = _representative_request(family)
        variants: list[dict[str, object]] = [{"duration": d} for d in family.durations]
        variants += [{"size": s} for s in family.sizes]
        variants += [{"resolution": r} for r in family.resolutions]
        variants += [{"aspect_ratio": r} for r in family.ratios]
        if family.audio_flag:
            variants.append({"audio": False})
        if family.shot_type:
            variants.append({"extra": {"shot_type": "multi"}})
        if family.template:
            variants.append({"extra": {"template": "flying"}})
        if "first_clip" in family.media_types:  # video continuation, with a last frame too
            clip = "https://cdn.example.com/first.mp4"
            variants += [
                {"image_url": clip},
                {"image_url": clip, "last_frame_url": "https://x/l.png"},
            ]
        # Every mix of reference images and videos up to one past the limits: the provider
        # must refuse (RequestRejected) whatever the service would.
        mixes = [
            {"reference_urls": ["https://x/i.png"] * i + ["https://x/v.mp4"] * v}
            for i in range(family.references + 2)
            for v in range(family.references + 2 - i)
            if i + v
        ]
        for variant in variants + mixes:
            request = VideoRequest(prompt="p", model=model, **{**base, **variant})  # type: ignore[arg-type]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    submit = build_submit(request, default_model=None, truncate_prompt=False)
            except RequestRejected:
                if variant in mixes:
                    continue
                raise
            cases.append((model, "/api/v1" + submit.path, submit.body))
    assert checked == {f.name for f in FAMILIES if not f.unsupported}
    return cases


def test_the_emulator_accepts_everything_the_catalogue_lets_through() -> None:
    """The emulator's own table (served.py) against the provider's catalogue: a value the
    catalogue allows but the service does not would be sent and refused."""
    from videoprovider_dashscope.emulator.validation import check_wire_body

    cases = _catalogued_bodies()
    assert len(cases) > 150
    refused = [(m, b, check_wire_body(p, b)) for m, p, b in cases if check_wire_body(p, b)]
    assert refused == []


@pytest.mark.parametrize(
    ("model", "inp", "params"),
    [
        ("wan2.2-t2v-plus", {}, {"size": "1280*720"}),
        ("wanx2.1-t2v-turbo", {}, {"size": "1920*1080"}),
        ("wanx2.1-t2v-plus", {}, {"size": "832*480"}),
        ("wan2.6-t2v", {}, {"audio": True}),
        ("wan2.7-t2v", {}, {"shot_type": "multi"}),
        ("wan2.5-t2v-preview", {}, {"shot_type": "multi"}),
        ("wan2.6-t2v", {"template": "flying"}, {}),
        ("wan2.6-i2v", {"img_url": "https://x/a.png"}, {"audio": False}),
        ("wan2.6-i2v", {"img_url": "https://x/a.png"}, {"duration": 16}),
        ("happyhorse-1.0-t2v", {}, {"duration": 2}),
        (
            "happyhorse-1.0-r2v",
            {"media": [{"type": "reference_video", "url": "https://x/a.mp4"}]},
            {},
        ),
        ("happyhorse-1.0-i2v", {"img_url": "https://x/a.png"}, {}),
        ("wan2.2-i2v-plus", {"img_url": "https://x/a.png"}, {"resolution": "720P"}),
        ("wan2.7-i2v", {"img_url": "https://x/a.png"}, {}),
        ("wan2.6-r2v", {"reference_urls": ["https://x/a.png"] * 6}, {}),
        ("wan2.6-r2v", {"reference_urls": ["https://x/a.mp4"] * 4}, {}),
        ("wan2.6-r2v", {"reference_urls": ["https://x/a.mp4"]}, {"audio": False}),
        ("wan2.6-r2v", {"reference_urls": ["https://x/a.mp4"]}, {"duration": 15}),
        ("wan2.7-r2v-2026-06-12", {"reference_urls": ["https://x/a.mp4"]}, {}),
    ],
)
def test_the_emulator_refuses_what_the_service_refuses(
    http: httpx.Client, model: str, inp: dict[str, object], params: dict[str, object]
) -> None:
    body = {"model": model, "input": {"prompt": "x", **inp}, "parameters": params}
    reply = http.post(SUBMIT, json=body, headers=ASYNC)
    assert (reply.status_code, reply.json()["code"]) == (400, "InvalidParameter")


def test_kf2v_with_a_template_needs_no_last_frame(http: httpx.Client) -> None:
    kf2v = "/api/v1/services/aigc/image2video/video-synthesis"
    body = {
        "model": "wanx2.1-kf2v-plus",
        "input": {"prompt": "x", "first_frame_url": "https://x/a.png", "template": "flying"},
    }
    assert http.post(kf2v, json=body, headers=ASYNC).status_code == 200


_SIZES = sorted({s for rules in SERVED.values() for s in rules.size} | {"1024*1024"})
_MEDIA = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.mp4"]


def _maybe(values: object) -> st.SearchStrategy[object]:
    return st.none() | st.sampled_from(sorted(values))  # type: ignore[call-overload]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), model=st.sampled_from(sorted(SERVED)))
def test_whatever_the_provider_sends_the_emulator_accepts(data: st.DataObject, model: str) -> None:
    """Refused before the network, or accepted by the service: never sent to be refused.

    Fields are drawn mostly from what the emulator says the model takes, plus near misses,
    so that most examples get through the provider's checks and reach the emulator's."""
    import warnings

    from pydantic import ValidationError

    from videoprovider import RequestRejected
    from videoprovider.models import VideoRequest
    from videoprovider_dashscope.emulator.validation import check_wire_body
    from videoprovider_dashscope.request import build_submit

    rules = SERVED[model]
    fields: dict[str, object] = {
        "duration": data.draw(_maybe(set(rules.duration) | {1, 7, 11, 16})),
        "audio": data.draw(st.none() | st.booleans()),
        "extra": data.draw(st.sampled_from([{}, {"shot_type": "multi"}, {"template": "t"}])),
    }
    if data.draw(st.booleans()):
        fields["size"] = data.draw(_maybe(set(rules.size) | set(_SIZES[:3])))
    else:
        fields["resolution"] = data.draw(_maybe(set(rules.resolution) | {"480P", "1080P"}))
        fields["aspect_ratio"] = data.draw(_maybe(set(rules.ratio) | {"21:9"}))
    if data.draw(st.booleans()):
        fields["image_url"] = _MEDIA[0]
        fields["last_frame_url"] = data.draw(st.none() | st.just(_MEDIA[0]))
    fields["reference_urls"] = tuple(data.draw(st.lists(st.sampled_from(_MEDIA), max_size=7)))
    try:
        request = VideoRequest(prompt="p", model=model, **fields)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            submit = build_submit(request, default_model=None, truncate_prompt=False)
    except (ValidationError, RequestRejected):
        return
    assert check_wire_body("/api/v1" + submit.path, submit.body) is None, submit.body
