"""The client-chosen task id of a recoverable submit (core/reconcile.py `with_submit_id`)."""

from videoprovider.models import VideoRequest
from videoprovider.reconcile import with_submit_id


def test_a_fresh_id_is_added_under_the_declared_key() -> None:
    request = VideoRequest(prompt="a cat", extra={"mode": "pro"})
    first = with_submit_id(request, "external_task_id")
    second = with_submit_id(request, "external_task_id")
    assert first.extra["mode"] == "pro"
    assert first.extra["external_task_id"].startswith("vp-")
    assert first.extra["external_task_id"] != second.extra["external_task_id"]
    assert request.extra == {"mode": "pro"}


def test_an_id_the_caller_chose_is_kept_and_no_key_changes_nothing() -> None:
    mine = VideoRequest(prompt="a cat", extra={"external_task_id": "order-42"})
    assert with_submit_id(mine, "external_task_id") is mine
    plain = VideoRequest(prompt="a cat")
    assert with_submit_id(plain, None) is plain
