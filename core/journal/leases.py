"""Who holds a lease: this process's worker id, and whether a lease's holder still runs."""

from __future__ import annotations

import os
import socket
import uuid

__all__ = ["owner_is_dead", "worker_id"]


def worker_id() -> str:
    """This process's name in leases: host, pid and a nonce (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_is_dead(owner: str) -> bool:
    # A lease of a process on this host that no longer runs is over at once; one held on
    # another host can only run out.
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
