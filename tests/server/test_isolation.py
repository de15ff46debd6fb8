"""The library and the CLI's other commands work without the server extra, and never import
the gateway."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A meta path finder that makes the extra's packages unimportable, as on an install without
# `videoprovider[server]`.
BLOCK = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("fastapi", "starlette", "uvicorn", "multipart",
                                      "python_multipart"):
                raise ImportError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Block())
    """
)


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_library_and_other_commands_never_import_the_gateway() -> None:
    result = run(
        """
        import videoprovider
        from click.testing import CliRunner
        from videoprovider.cli import main
        with videoprovider.VideoClient("fake") as client:
            client.submit("A cat")
        for args in (["--help"], ["providers"], ["serve", "--help"]):
            outcome = CliRunner().invoke(main, args)
            assert outcome.exit_code == 0, (args, outcome.output)
        assert "videoprovider.server" not in sys.modules, "the gateway was imported"
        assert "fastapi" not in sys.modules
        print("fine")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "fine" in result.stdout


def test_serve_without_the_extra_says_how_to_install_it() -> None:
    result = run(
        """
        from click.testing import CliRunner
        from videoprovider.cli import main
        outcome = CliRunner().invoke(main, ["serve"])
        print(outcome.exit_code)
        print(outcome.output)
        """
    )
    assert result.returncode == 0, result.stderr
    code, _, output = result.stdout.partition("\n")
    assert code == "2"
    assert 'pip install "videoprovider[server]"' in output
