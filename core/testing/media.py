"""A minimal, structurally valid MP4 (ISO-BMFF `ftyp` + `moov`/`mvhd` + `mdat`), in memory.

It carries a duration but no decodable frames: enough for clients to download, check and
store, without shipping a second binary asset in this package.
"""

from __future__ import annotations

import struct
from functools import cache


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@cache
def sample_mp4(seconds: int = 5) -> bytes:
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    timescale = 1000
    mvhd = _box(
        b"mvhd",
        struct.pack(
            ">B3xIIII", 0, 0, 0, timescale, seconds * timescale
        )  # version, times, scale, duration
        + struct.pack(">IH10x", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)  # unity matrix
        + bytes(24)
        + struct.pack(">I", 2),
    )  # pre-defined, next track id
    mdat = _box(b"mdat", bytes(range(256)) * 16)
    return ftyp + _box(b"moov", mvhd) + mdat
