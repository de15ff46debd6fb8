import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def anyio_backend() -> str:
    # Async tests run on asyncio, the loop every supported host framework uses.
    return "asyncio"


InstallDist = Callable[..., Path]


@pytest.fixture(autouse=True)
def private_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the user data dir (the default journal, the fake's cancels) out of every test."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture
def install_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallDist]:
    """Put a throwaway distribution with entry points on sys.path, as pip would install one.

    `install_dist("acme-video", {"acme_video": "source"}, {"videoprovider.providers":
    {"acme": "acme_video:AcmeProvider"}})` returns the site folder.
    """
    site = tmp_path / "site"
    site.mkdir()
    modules: list[str] = []

    def install(
        dist: str, sources: dict[str, str], entry_points: dict[str, dict[str, str]]
    ) -> Path:
        for module, source in sources.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            modules.append(module)
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{name} = {target}" for name, target in names.items())
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        record = [f"{module}.py,," for module in sources] + [f"{info.name}/RECORD,,"]
        (info / "RECORD").write_text("\n".join(record) + "\n")
        return site

    monkeypatch.syspath_prepend(str(site))
    yield install
    for module in modules:
        sys.modules.pop(module, None)


NOCANCEL = """
from videoprovider import Operation, ProviderSettings, Task, TaskState, TaskStatus, hookimpl

CALLS = []

class Settings(ProviderSettings):
    pass

class NoCancel:
    capabilities = frozenset({Operation.SUBMIT, Operation.STATUS})
    unsupported = {Operation.CANCEL: "Tasks here cannot be stopped."}
    Settings = Settings

    def __init__(self, settings, context):
        self.context = context

    @hookimpl
    async def videoprovider_submit(self, request):
        CALLS.append("submit")
        return Task(provider=self.context.name, task_id="n1", request=request)

    @hookimpl
    async def videoprovider_status(self, task_id):
        CALLS.append("status")
        return TaskStatus(provider=self.context.name, task_id=task_id, state=TaskState.PENDING)
"""


@pytest.fixture
def nocancel_provider(install_dist: InstallDist) -> ModuleType:
    """A third-party provider `nocancel` without url and cancel; CALLS records every hook."""
    install_dist(
        "nocancel-video",
        {"nocancel_video": NOCANCEL},
        {"videoprovider.providers": {"nocancel": "nocancel_video:NoCancel"}},
    )
    return importlib.import_module("nocancel_video")
