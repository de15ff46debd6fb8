"""Checks on the project itself: the README's commands, CI, static analysis."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:bash|sh)\n(.+?)\n```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    commands = readme_commands()
    assert commands[1] == ci, "README's test command and .ci/run have drifted"
    assert "pytest" in ci and 'pip install -q ".[test]"' in ci
    assert "videoprovider generate" in commands[0]


def test_tests_run_against_the_installed_package() -> None:
    import videoprovider

    # core/ is not importable as `videoprovider` from the source tree, so this is the
    # installed (or editable-installed) package, never an accident of sys.path.
    assert Path(videoprovider.__file__).parent.name in ("core", "videoprovider")
    assert not (ROOT / "videoprovider").exists()


PACKAGES = {
    "videoprovider": ROOT / "core",
    "videoprovider_fake": ROOT / "providers" / "fake",
    "videoprovider_dashscope": ROOT / "providers" / "dashscope",
    "videoprovider_replicate": ROOT / "providers" / "replicate",
    "videoprovider_fal": ROOT / "providers" / "fal",
    "videoprovider_kling": ROOT / "providers" / "kling",
    "videoprovider_google": ROOT / "providers" / "google",
}


def test_ruff_is_clean() -> None:
    command = [sys.executable, "-m", "ruff", "check", "core", "providers", "tests"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    # The source folders are not named like the packages they install (core/ is
    # `videoprovider`), and mypy cannot follow an editable install's import hook, so give it
    # the package names through a folder of links to the source tree.
    for name, source in PACKAGES.items():
        (tmp_path / name).symlink_to(source, target_is_directory=True)
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    for name in PACKAGES:
        command += ["-p", name]
    env = {**os.environ, "MYPYPATH": str(tmp_path)}
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_source_package_is_packaged() -> None:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for name, source in PACKAGES.items():
        for init in source.rglob("__init__.py"):
            parts = init.parent.relative_to(source).parts
            found.add(".".join((name, *parts)))
    assert found == listed, "pyproject's packages list and the source tree differ"


def core_imports() -> dict[str, set[str]]:
    """Each core module (dotted, under `videoprovider`) and the core modules it imports,
    `if TYPE_CHECKING:` imports included: a circle a type checker walks is a circle."""
    import ast

    core = ROOT / "core"
    graph: dict[str, set[str]] = {}
    for path in core.rglob("*.py"):
        parts = list(path.relative_to(core).with_suffix("").parts)
        package = parts[:-1]
        if parts[-1] == "__init__":
            continue  # a package re-exports its modules; it is not a step in a circle
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
                deps.add(target)
        graph[".".join(parts)] = deps
    return graph


def test_no_core_modules_import_each_other_in_a_circle() -> None:
    graph = core_imports()
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep in graph and dep not in state and (circle := walk(dep)):
                return circle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            circle = walk(module)
            assert circle is None, " -> ".join(circle)
