"""Every test SECURITY.md names as the check of a promise exists, so the table cannot
point at a test that was renamed or removed."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def named_tests() -> list[tuple[str, str]]:
    """(file, test name) for each `tests/x.py::name` and each following `::name`."""
    text = (ROOT / "SECURITY.md").read_text()
    found = []
    for row in text.splitlines():
        current = None
        for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", row):
            current = path or current
            assert current, f"SECURITY.md names ::{name} without its file: {row[:80]}"
            found.append((current, name))
    return found


def test_security_md_names_only_tests_that_exist() -> None:
    tests = named_tests()
    assert len(tests) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in tests
        if not (ROOT / path).is_file()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M)
    ]
    assert missing == []
