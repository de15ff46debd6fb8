"""Testing helpers: pytest fixtures for host applications (loaded automatically through the
`pytest11` entry point when videoprovider is installed; they are in `fixtures.py`), the
provider conformance kit (`conformance`), and what provider emulators are built on
(`emulator`, `media`, `clocks`, `faults`).

`emulator` and `media` need no pytest: a provider's `python -m ...emulator` runs where
pytest is not installed. So this package imports the fixtures only where pytest is there.
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401
except ImportError:  # an emulator run outside any test run
    pass
else:
    from .fixtures import (
        async_video_client,
        client_settings,
        marker_kwargs,
        pytest_configure,
        video_client,
        video_clock,
    )

    __all__ = [
        "async_video_client",
        "client_settings",
        "marker_kwargs",
        "pytest_configure",
        "video_client",
        "video_clock",
    ]
