import asyncio
import importlib
import os
import signal
import ssl
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from videoprovider.testing.emulator import in_thread

pytest_plugins = ["pytester"]


@pytest.fixture
def anyio_backend() -> str:
    # Async tests run on asyncio, the loop every supported host framework uses.
    return "asyncio"


InstallDist = Callable[..., Path]


# The environment variables a developer's shell may hold that change what a client builds:
# our own settings, every provider's settings and conventional key names, proxies' CAs aside.
ISOLATED_PREFIXES = ("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_", "REPLICATE_")


@pytest.fixture(autouse=True)
def private_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the developer's settings, keys, config files and data dir out of every test.

    HOME moves too, so platformdirs finds no config or data under `~` on any platform (macOS
    reads `~/Library`, Windows-style homes aside), and the XDG folders point inside it.
    """
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))


@pytest.fixture(autouse=True)
def signal_handlers_kept() -> Iterator[None]:
    """A test that leaves SIGINT's or SIGTERM's handler changed breaks later ones (the Ctrl-C
    tests need Python's own SIGINT handler: `interrupt_main` does nothing without it): put
    the handlers back and fail the test that changed them."""
    watched = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in watched}
    yield
    changed = [sig.name for sig in watched if signal.getsignal(sig) is not before[sig]]
    for sig, handler in before.items():
        signal.signal(sig, handler)
    assert not changed, f"the test left the {' and '.join(changed)} handler changed"


@pytest.fixture(scope="session")
def unavailable() -> Callable[[str], Any]:
    """`unavailable(reason)`: skip a test whose tool is missing, visibly; in CI (`CI=true`,
    where .ci/run installs every tool) fail instead, so a check cannot vanish from CI unseen."""

    def give_up(reason: str) -> Any:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI must run this test (.ci/run installs it)", pytrace=False)
        pytest.skip(reason)

    return give_up


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
            # A module of this name imported earlier (a real plugin of the same name, loaded
            # by a provider listing) would shadow the throwaway one.
            monkeypatch.delitem(sys.modules, module, raising=False)
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
from videoprovider.plugin import Operation, ProviderSettings, Task, TaskState, TaskStatus, hookimpl

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


ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextmanager
def serve_in_thread(
    handler: ConnectionHandler, tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, int]]:
    """Run an asyncio stream server on 127.0.0.1 in a thread; yield its (host, port).

    For servers that misbehave on purpose (chosen bytes, a forward proxy), which the
    emulators' well-behaved HTTP cannot stand in for.
    """
    start = partial(asyncio.start_server, handler, "127.0.0.1", 0, ssl=tls)
    with in_thread(start, name="test-server") as server:
        yield "127.0.0.1", server.sockets[0].getsockname()[1]


@pytest.fixture
def raw_server() -> Iterator[Callable[..., Any]]:
    """`raw_server(reply)`: a server that reads one request head and writes `reply` (bytes,
    or an async callable given the writer); returns its base URL. Closed after the test."""
    with ExitStack() as stack:

        def start(reply: bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]) -> str:
            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    await reader.readuntil(b"\r\n\r\n")
                    if isinstance(reply, bytes):
                        writer.write(reply)
                        await writer.drain()
                    else:
                        await reply(writer)
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass
                finally:
                    writer.close()

            host, port = stack.enter_context(serve_in_thread(handle))
            return f"http://{host}:{port}"

        yield start


class ForwardProxy:
    """A forward proxy on 127.0.0.1 that tunnels CONNECT to loopback ports and counts them.

    What passes through is recorded so a test can prove its client used the proxy: `tunnels`
    lists each CONNECT target, `bytes_up`/`bytes_down` what crossed.
    """

    def __init__(self) -> None:
        self.url = ""
        self.tunnels: list[str] = []
        self.bytes_up = 0
        self.bytes_down = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
                # Tests never reach beyond this machine, through this proxy or otherwise.
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(
                self._pipe(reader, up_writer, "bytes_up"),
                self._pipe(up_reader, writer, "bytes_down"),
            )
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, counter: str
    ) -> None:
        try:
            while data := await source.read(65536):
                setattr(self, counter, getattr(self, counter) + len(data))
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    with serve_in_thread(proxy.handle) as (host, port):
        proxy.url = f"http://{host}:{port}"
        yield proxy


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A throwaway CA (trustme) with its PEM at `.pem_path`; `.server_context()` for servers."""
    import trustme

    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("ca")
    ca.pem_path = str(folder / "ca.pem")
    ca.cert_pem.write_to_path(ca.pem_path)
    cert = ca.issue_cert("127.0.0.1", "localhost")

    def server_context() -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    ca.server_context = server_context
    return ca
