"""The `videoprovider` command: every client operation from a terminal or a script.

Heavy imports happen inside the commands, so `videoprovider --help` starts fast.
"""

from .app import main

__all__ = ["main"]
