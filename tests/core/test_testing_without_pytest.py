"""What provider emulators are built on imports where pytest is not installed."""

import subprocess
import sys

import pytest

# A finder that makes `import pytest` (and `_pytest`) fail, as in an environment without it.
BLOCK_PYTEST = """
import sys
from importlib.abc import MetaPathFinder

class NoPytest(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytest", "_pytest"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPytest())
"""


@pytest.mark.parametrize(
    "module",
    [
        "videoprovider.testing.media",
        "videoprovider.testing.emulator",
        "videoprovider.testing.clocks",
        "videoprovider_dashscope.emulator",
        "videoprovider_replicate.emulator",
    ],
)
def test_emulator_building_blocks_import_without_pytest(module: str) -> None:
    code = BLOCK_PYTEST + (
        f"import importlib; importlib.import_module({module!r})\n"
        "assert 'pytest' not in sys.modules and '_pytest' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_block_really_blocks_pytest() -> None:
    code = BLOCK_PYTEST + "import pytest\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "No module named 'pytest'" in done.stderr
