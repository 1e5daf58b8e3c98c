"""Control a running simulator from another process: a Unix socket next to its link, JSON lines.

``shegong sim id-reader place --identity zhang-wei`` connects to ``<link>.ctl`` and sends
``{"cmd": "place", "args": {"identity": "zhang-wei"}}``; the answer is ``{"ok": true, "result": …}`` or
``{"ok": false, "error": "…"}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernel.unixsock import socket_address

__all__ = ["ControlServer", "SimControlError", "control_path", "send"]

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


class SimControlError(Exception):
    """The simulator refused a command, or is not running. ``is_user_error``: the CLI prints it."""

    is_user_error = True


def control_path(link: str | os.PathLike[str]) -> Path:
    return Path(f"{link}.ctl")


class ControlServer:
    """Serve ``handlers`` (command name → function taking keyword arguments) on a Unix socket."""

    def __init__(self, path: str | os.PathLike[str], handlers: dict[str, Handler]) -> None:
        self.path = Path(path)
        self.handlers = handlers
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with socket_address(self.path) as address:
            self._sock.bind(address)
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-control", daemon=True)

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    request = json.loads(conn.makefile("rb").readline())
                    reply = self._handle(request)
                except (OSError, ValueError) as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(reply, ensure_ascii=False).encode() + b"\n")

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(str(request.get("cmd")))
        if handler is None:
            return {"ok": False, "error": f"unknown command; known: {', '.join(sorted(self.handlers))}"}
        try:
            return {"ok": True, "result": handler(**request.get("args", {}))}
        except Exception as exc:  # reported to the caller, the simulator keeps running
            log.warning("sim control %s failed: %s", request.get("cmd"), exc)
            return {"ok": False, "error": str(exc)}


def send(path: str | os.PathLike[str], cmd: str, timeout: float = 5.0, **args: Any) -> Any:
    """Send one command to the simulator listening at ``path`` and return its result."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            with socket_address(Path(path)) as address:
                sock.connect(address)
            sock.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline())
    except (OSError, ValueError) as exc:
        raise SimControlError(f"no simulator answering at {path}: {exc}") from None
    if not reply.get("ok"):
        raise SimControlError(str(reply.get("error")))
    return reply.get("result")
