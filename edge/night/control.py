"""``shegong edge nightly`` while the terminal's service runs: the night runs inside the service.

The service (``shegong edge run``) listens on a Unix socket in its runtime folder (0600, this user only);
the nightly command connects, the service runs the night with its own sync agent and answers with the
JSON summary. With nobody listening (the service stopped), the command runs the night itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path

from edge.night.steps import run_night
from edge.runtime import EdgeRuntime

__all__ = ["ask_service", "serve_control", "socket_path"]

log = logging.getLogger(__name__)
_MAX_NIGHT_S = 3600.0


def socket_path(rt_dir: Path) -> Path:
    return rt_dir / "night.sock"


def serve_control(rt: EdgeRuntime) -> socketserver.UnixStreamServer:
    """Listen for nightly requests in a daemon thread; one night at a time."""
    path = socket_path(rt.settings.runtime_dir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    lock = threading.Lock()

    class _Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with lock:
                result = run_night(rt)
            self.wfile.write(result.as_json().encode() + b"\n")

    old = os.umask(0o077)
    try:
        server = socketserver.UnixStreamServer(str(path), _Handler)
    finally:
        os.umask(old)
    threading.Thread(target=server.serve_forever, name="edge-night-control", daemon=True).start()
    return server


def ask_service(rt_dir: Path) -> str | None:
    """The night's summary as the running service made it, or None when no service listens."""
    path = socket_path(rt_dir)
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(_MAX_NIGHT_S)
        try:
            s.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        with s.makefile("rb") as f:
            line = f.readline()
    return line.decode().strip() or None
