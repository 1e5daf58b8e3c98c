"""Unix sockets: addresses of any depth (Linux keeps at most 107 bytes of a socket's path, and a demo or test
folder, or a deep ``run_dir``, can be longer), and who is at the other end, as the kernel tells it."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["PeerCredentials", "peer_credentials", "socket_address"]

_SUN_PATH_MAX = 107


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """``path`` as a socket address to bind or connect to: itself, or when too long, reached through its
    folder's descriptor (``/proc/self/fd/N/name``), which is the very same file."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


class PeerCredentials(NamedTuple):
    """The process at the other end of a connected Unix socket, as it was when it connected."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """``SO_PEERCRED`` of a connected Unix stream socket: filled in by the kernel at ``connect()``, so the
    peer cannot choose them (unlike anything it writes into the stream)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return PeerCredentials(*struct.unpack("3i", raw))
