"""Local files are opened once, checked on the open descriptor and read from it."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from videoprovider.errors import RequestRejected
from videoprovider.localfiles import open_checked, read_checked


def test_a_regular_file_is_read_from_the_descriptor_that_was_checked(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"first")
    opened = open_checked(picture, "image_url", 100, "the test takes images")
    try:
        picture.unlink()
        picture.write_bytes(b"swapped after the check")
        assert opened.handle.read(opened.size) == b"first"
    finally:
        opened.close()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.symlink_to("/proc/self/environ"), "symbolic link"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"x" * 101), "the test takes images up to"),
        (lambda p: None, "does not exist"),
    ],
)
def test_anything_but_a_small_regular_file_is_refused_naming_the_field(
    tmp_path: Path, make: object, match: str
) -> None:
    path = tmp_path / "x.png"
    make(path)  # type: ignore[operator]
    with pytest.raises(RequestRejected, match=match) as info:
        anyio.run(read_checked, path, "image_url", 100, "the test takes images")
    assert info.value.field == "image_url"


def test_a_kernel_made_file_is_refused_though_stat_calls_it_regular() -> None:
    with pytest.raises(RequestRejected, match="not a regular file"):
        open_checked(Path("/proc/self/status"), "image_url", 10**6, "the test takes images")
