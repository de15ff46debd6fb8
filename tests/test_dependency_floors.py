"""The minimum versions pyproject.toml asks for exclude releases with published advisories
(SECURITY.md, "Dependency floors"): a floor lowered by accident fails here."""

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# package -> the first version past the advisories it had (the ids are in pyproject.toml)
ADVISED = {
    "cryptography": "50.0.0",  # GHSA-g6cj-pr64-35w5, GHSA-jwv3-5hgf-82ww, ...
    "h11": "0.16.0",  # CVE-2025-43859
    "httpcore": "1.0.9",  # the first that takes h11 0.16
    "anyio": "4.4.0",  # race in get_asynclib
    "click": "8.3.3",  # PYSEC-2026-2132
    "pygments": "2.20.0",  # PYSEC-2026-2987
    "pytest": "9.0.3",  # CVE-2025-71176
    "setuptools": "78.1.1",  # CVE-2025-47273
}


def requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = [*project["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for extra in project["optional-dependencies"].values():
        listed += extra
    return [Requirement(r) for r in listed]


def floor(requirement: Requirement) -> Version | None:
    lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(lows) if lows else None


@pytest.mark.parametrize("name", sorted(ADVISED))
def test_dependency_floors_exclude_versions_with_advisories(name: str) -> None:
    found = [r for r in requirements() if r.name.lower() == name]
    assert found, f"{name} is no longer required; drop it from ADVISED"
    for requirement in found:
        low = floor(requirement)
        assert low is not None and low >= Version(ADVISED[name]), str(requirement)
