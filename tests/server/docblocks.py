"""The examples of docs/gateway.md, for the tests that run them against a real gateway."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
DOC_URL = "http://127.0.0.1:8000"


def block(lang: str, containing: str) -> str:
    """The one fenced `lang` block of docs/gateway.md that contains `containing`."""
    found = [
        code
        for kind, code in re.findall(r"^```(\w+)\n(.*?)^```", DOC.read_text(), re.S | re.M)
        if kind == lang and containing in code
    ]
    assert len(found) == 1, f"expected one {lang} block with {containing!r}, found {len(found)}"
    return found[0]
