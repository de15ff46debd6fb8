"""The video gateway (`videoprovider serve`): every provider behind OpenAI's `/v1/videos`.

Installed with the `server` extra (`pip install "videoprovider[server]"`); nothing in the
library imports this package. See docs/gateway.md.
"""

from .app import create_app
from .settings import KeySettings, ServerSettings, server_settings

__all__ = ["KeySettings", "ServerSettings", "create_app", "server_settings"]
