"""Reading task references: which provider a string names, and where an id may hold ':'."""

import pytest

from videoprovider import ConfigurationError, Task
from videoprovider.refs import installed_provider_names, split_ref, to_task


def installed() -> set[str]:
    return {"fake", "dashscope"}


def test_task_ref_is_provider_colon_id() -> None:
    assert Task(provider="fake", task_id="fake-abc").ref == "fake:fake-abc"


@pytest.mark.parametrize(
    ("text", "provider", "task_id"),
    [
        ("fake:fake-abc", "fake", "fake-abc"),
        ("dashscope:0a1b-2c3d", "dashscope", "0a1b-2c3d"),
        ("  fake:fake-abc \n", "fake", "fake-abc"),
        ("fake:odd:id:with:colons", "fake", "odd:id:with:colons"),  # split on the first only
        ("0a1b-2c3d", None, "0a1b-2c3d"),
        ("1234:5678", None, "1234:5678"),  # a prefix no provider could be named
    ],
)
def test_split_ref(text: str, provider: str | None, task_id: str) -> None:
    assert split_ref(text, installed) == (provider, task_id)


def test_a_ref_naming_a_provider_not_installed_lists_the_installed_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'replicat'.*not installed.*dashscope, fake"):
        split_ref("replicat:abc", installed)


def test_to_task_takes_a_task_its_json_a_ref_or_a_bare_id() -> None:
    task = Task(provider="dashscope", task_id="0a1b")
    assert to_task(task, "fake", installed) is task
    assert to_task(task.model_dump_json(), "fake", installed) == task
    assert to_task(task.ref, "fake", installed) == task
    assert to_task("0a1b", "dashscope", installed) == task


def test_broken_task_json_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="task document"):
        to_task('{"provider": "fake"}', "fake", installed)


def test_installed_names_come_from_entry_points() -> None:
    assert {"fake", "dashscope"} <= installed_provider_names()
