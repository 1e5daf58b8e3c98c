"""Unix socket addresses of any depth: Linux keeps at most 107 bytes of a socket's path, and a demo or test
folder (or a deep ``run_dir``) can be longer."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["socket_address"]

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
