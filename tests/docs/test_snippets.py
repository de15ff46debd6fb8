"""Every runnable snippet in README.md and docs/ runs here, against the fake provider, so the
docs cannot drift from the code.

A marker on the line before a fence:
`<!-- not-run: reason -->` skips it, with the reason in the report (a real key, a package
install, a server that runs until stopped). Nothing else is skipped.

Python blocks run in a fresh directory with HOME and the XDG directories inside it and
VIDEOPROVIDER_PROVIDER=fake; a block that defines `test_` functions is run by pytest, in a
child process. Every client gets a VirtualClock by default, so waits finish at once and
nothing sleeps.

bash and console blocks (in console blocks, the `$ ` lines) run each `videoprovider` command
in-process through click's CliRunner. A file's shell blocks run in order inside one test,
sharing a directory, journal and clock as in one terminal, so no test order can separate a
`wait` from the `submit` before it; each Python block gets its own directory and clock.
A command must exit 0, unless `echo $?` follows it, then with the code shown below that.
`export NAME=VALUE` and `NAME=VALUE videoprovider ...` set the environment, `> FILE` saves
stdout, `"$(cat FILE)"` is the file's text, and a task id shortened with `…` (`fake-eyJu…`)
is the latest fake task id printed in that file. Any other command fails the
test: run it or mark the block.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from videoprovider import VirtualClock
from videoprovider.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNNABLE = {"python", "bash", "console", "sh", "shell"}
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->\s*$")
FAKE_ID = re.compile(r"fake-[A-Za-z0-9_-]{16,}")
CAT = re.compile(r"\"?\$\(cat ([^)\s]+)\)\"?")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None = None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """The runnable fenced blocks of `path`."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        lang = fence.group(1)
        if lang in RUNNABLE:
            marker = MARKER.match(lines[i - 1]) if i else None
            skip = marker.group(1) if marker else None
            blocks.append(Block(path, i + 1, lang, "\n".join(lines[i + 1 : end]), skip))
        i = end + 1
    return blocks


BLOCKS = [block for path in DOCS for block in read_blocks(path)]
SHELL = {"bash", "console", "sh", "shell"}
# Python blocks and marked blocks are one test each; a file's runnable shell blocks, one test.
SINGLE = [b for b in BLOCKS if b.lang == "python" or b.skip is not None]
SESSIONS = {
    path: shell
    for path in DOCS
    if (shell := [b for b in BLOCKS if b.path == path and b.lang in SHELL and b.skip is None])
}


@contextmanager
def fresh_home(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`directory` as a new user's home and working directory, the fake as provider."""
    clock = VirtualClock()
    for name in list(os.environ):
        if name.startswith(("VIDEOPROVIDER_", "DASHSCOPE_", "WANAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(directory))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(directory / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(directory / ".local" / "share"))
    monkeypatch.setenv("VIDEOPROVIDER_PROVIDER", "fake")
    # A DashScope call that is not refused before sending meets a closed loopback port.
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test-docs")
    monkeypatch.setenv("DASHSCOPE_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setattr("videoprovider.client.SystemClock", lambda: clock)
    monkeypatch.chdir(directory)
    yield directory


@pytest.mark.parametrize("block", SINGLE, ids=[b.name for b in SINGLE])
def test_snippet(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.skip is not None:
        assert block.skip, f"{block.name}: a not-run marker must say why"
        pytest.skip(f"not-run: {block.skip}")
    with fresh_home(tmp_path, monkeypatch):
        run_python(block, request)


@pytest.mark.parametrize("path", list(SESSIONS), ids=[str(p.relative_to(ROOT)) for p in SESSIONS])
def test_shell_session(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's shell blocks, in the order a reader types them, in one terminal."""
    with fresh_home(tmp_path, monkeypatch) as home:
        for block in SESSIONS[path]:
            run_shell(block, home, monkeypatch)


def run_python(block: Block, request: pytest.FixtureRequest) -> None:
    if re.search(r"^def test_", block.code, flags=re.M):
        # In a child process: run in-process, pytester puts sys.modules back as it found
        # them, so a module a snippet imported first (httpcore, whose exception classes
        # httpx caches on first use) is imported anew by later tests, and httpx then lets
        # raw httpcore errors through them, so their outcome depended on test order.
        # Plain snippets run in this process as they are.
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makepyfile(**{"test_doc_snippet": block.code})
        result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
        assert result.ret == 0, f"{block.name}\n" + "\n".join(result.outlines[-30:])
        return
    exec(compile(block.code, block.name, "exec"), {"__name__": "__main__"})


def commands(block: Block) -> Iterator[tuple[str, str]]:
    """(command, the output shown after it) for each command of a shell block."""
    text = block.code.replace("\\\n", " ")
    if block.lang != "console":
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield line, ""
        return
    current: str | None = None
    output: list[str] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            if current is not None:
                yield current, "\n".join(output)
            current, output = line[2:], []
        else:
            output.append(line)
    if current is not None:
        yield current, "\n".join(output)


def run_shell(block: Block, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latest = next(reversed(FAKE_ID.findall(_journaled_task_ids())), None)
    last_code: int | None = None
    last_output = ""
    for command, shown in commands(block):
        where = f"{block.name}: `{command}`"
        command = CAT.sub(lambda m: shlex.quote((home / m.group(1)).read_text()), command)
        words = shlex.split(command, comments=True)
        if words == ["echo", "$?"]:
            assert last_code == int(shown.strip().splitlines()[0]), where
            last_code = None
            continue
        _check_code(last_code, last_output)
        env: dict[str, str] = {}
        if words and words[0] == "export":
            words = words[1:]
        while words and ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if not words:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            continue
        assert words[0] == "videoprovider", f"{where}: only videoprovider commands run here"
        out_file = None
        if len(words) > 2 and words[-2] == ">":
            out_file, words = home / words[-1], words[:-2]
        args = [_task(w, latest, where) for w in words[1:]]
        result = CliRunner().invoke(main, args, env=env)
        if out_file is not None:
            out_file.write_text(result.stdout)
        last_code, last_output = result.exit_code, f"{where}\n{result.output}"
        latest = next(reversed(FAKE_ID.findall(result.stdout + result.stderr)), latest)
    _check_code(last_code, last_output)


def _task(word: str, latest: str | None, where: str) -> str:
    if "…" not in word:
        return word
    assert word.startswith("fake-") and latest, f"{where}: no fake task to stand for {word}"
    return latest


def _check_code(code: int | None, output: str) -> None:
    # A failing command's code waits here so that an `echo $?` after it can claim it.
    assert code in (None, 0), f"exited {code}: {output}"


def _journaled_task_ids() -> str:
    """The task ids an earlier block of the same file left in its journal."""
    from videoprovider.config import load_config
    from videoprovider.journal import open_journal

    journal = open_journal(load_config().core.journal_url)
    try:
        return " ".join(e.task_id or "" for e in journal.entries())
    finally:
        journal.close()


def test_only_a_marker_with_a_reason_skips_a_block(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "<!-- not-run: needs a key -->\n```bash\nvideoprovider providers\n```\n\n"
        "<!-- not run: typo -->\n```console\n$ videoprovider providers\n```\n\n"
        "```toml\nprovider = 'fake'\n```\n\n```python\nprint(1)\n```\n"
    )
    blocks = read_blocks(doc)
    assert [(b.line, b.lang, b.skip) for b in blocks] == [
        (2, "bash", "needs a key"),
        (7, "console", None),
        (15, "python", None),
    ]
    assert [c for c, _ in commands(blocks[1])] == ["videoprovider providers"]


def test_a_files_shell_blocks_run_in_one_session_in_reading_order() -> None:
    cli = SESSIONS[ROOT / "docs" / "cli.md"]
    assert len(cli) > 1 and [b.line for b in cli] == sorted(b.line for b in cli)
    assert not any(b.lang in SHELL and b.skip is None for b in SINGLE)


CLOSED_PORT_TEST = """
import httpx
import pytest


def test_a_closed_port_is_a_connect_error():
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:9/")
"""


def test_a_snippet_run_by_pytest_leaves_httpx_mapping_its_errors(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if the snippet were the first to use httpx: httpcore not yet imported, no map."""
    import httpx._transports.default as transport

    for name in [m for m in sys.modules if m == "httpcore" or m.startswith("httpcore.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(transport, "HTTPCORE_EXC_MAP", {})
    block = Block(Path(__file__), 1, "python", CLOSED_PORT_TEST)
    with fresh_home(tmp_path, monkeypatch):
        run_python(block, request)
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:9/")
