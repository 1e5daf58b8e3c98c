"""The running terminal's control socket: how the console asks it for its state and for send now, reconnect
and resync, without touching its MQTT link or its threads.

A Unix stream socket in the terminal's runtime folder (0700, the socket 0600: only the terminal's own user
connects). One JSON object per line each way: a request ``{"op": …, "id": …}`` and its reply
``{"id": …, "ok": true, "data": …}`` or ``{"id": …, "ok": false, "error": …}`` (paired by ``id``).
The server imports no UI; ``shegong edge run`` starts it beside the sync agent.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from edge.errors import EdgeError
from edge.store.db import private_dir
from edge.sync.agent import Ask

__all__ = ["OPS", "ControlClient", "ControlServer", "TerminalNotRunning", "Terminal", "serve_control", "socket_path"]

log = logging.getLogger(__name__)
OPS = ("status", "send_now", "reconnect", "resync", "fetch_catalogue")
_MAX_LINE = 64 * 1024


class TerminalNotRunning(EdgeError):
    """No terminal answers on the control socket (not started, or stopped)."""


class Terminal(Protocol):
    """What the control server needs of a running terminal (an :class:`edge.runtime.EdgeRuntime`)."""

    @property
    def agent(self) -> Any: ...

    @property
    def catalogue(self) -> Any: ...

    @property
    def catalogue_sync(self) -> Any: ...


def socket_path(runtime_dir: Path) -> Path:
    """Where the terminal listens: ``control.sock`` in its runtime folder."""
    return runtime_dir / "control.sock"


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        for raw in iter(lambda: self.rfile.readline(_MAX_LINE), b""):
            try:
                request = json.loads(raw)
                reply = {"id": request.get("id"), "ok": True, "data": self.server.serve(str(request.get("op")))}
            except (ValueError, AttributeError) as exc:
                reply = {"id": None, "ok": False, "error": f"bad request: {type(exc).__name__}"}
            except EdgeError as exc:
                reply = {"id": request.get("id"), "ok": False, "error": str(exc)}
            self.wfile.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")


class ControlServer(socketserver.ThreadingUnixStreamServer):
    """Serves the control socket of ``terminal`` in a daemon thread (``start``/``close``)."""

    daemon_threads = True

    def __init__(self, terminal: Terminal, path: Path, app_version: str = "") -> None:
        private_dir(path.parent)
        path.unlink(missing_ok=True)  # a socket left by a killed terminal
        old = os.umask(0o177)
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(old)
        self.path = path
        self.terminal = terminal
        self.app_version = app_version
        self.started = time.time()
        self._thread = threading.Thread(target=self.serve_forever, name="edge-control", daemon=True)

    def start(self) -> ControlServer:
        self._thread.start()
        log.info("control socket at %s", self.path)
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.path.unlink(missing_ok=True)

    def serve(self, op: str) -> dict[str, Any]:
        agent = self.terminal.agent
        if op == "status":
            return self.status()
        asks = {"send_now": Ask.SEND_NOW, "reconnect": Ask.RECONNECT, "resync": Ask.REBIRTH}
        if op in asks:
            agent.ask(asks[op])
        elif op == "fetch_catalogue":  # the retained announcement comes again on the new subscription
            agent.ask(Ask.RECONNECT)
        else:
            raise EdgeError(f"unknown op {op[:40]!r}")
        return {"asked": op}

    def status(self) -> dict[str, Any]:
        agent = self.terminal.agent
        desired = self.terminal.catalogue_sync.desired
        last_ack = agent.last_ack_at
        return {
            "pid": os.getpid(),
            "app_version": self.app_version,
            "uptime_s": time.time() - self.started,
            "link": str(agent.state),
            "hub_online": agent.hub_online,
            "last_ack_at": last_ack.isoformat() if last_ack else None,
            "round_trip_s": agent.last_round_trip_s,
            "hub_clock_offset_s": agent.hub_clock_offset_s,
            "stats": dict(agent.stats),
            "catalogue_in_force": self.terminal.catalogue.version,
            "catalogue_announced": desired.version if desired is not None else None,
            "devices": json.loads(json.dumps(agent.health(), default=str)),  # the kiosk's DeviceHealth.as_dict()
        }


@contextmanager
def serve_control(terminal: Terminal, runtime_dir: Path, app_version: str = "") -> Iterator[ControlServer]:
    """Run the control socket of ``terminal`` for the duration of the ``with``."""
    server = ControlServer(terminal, socket_path(runtime_dir), app_version).start()
    try:
        yield server
    finally:
        server.close()


class ControlClient:
    """The console's side: one short connection per request, so a restarted terminal is simply found again."""

    def __init__(self, path: Path, timeout_s: float = 3.0) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def request(self, op: str) -> dict[str, Any]:
        """Send ``op`` and return the reply's data; :class:`TerminalNotRunning` or :class:`EdgeError` if not."""
        rid = str(uuid.uuid4())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout_s)
                s.connect(str(self.path))
                s.sendall(json.dumps({"op": op, "id": rid}).encode() + b"\n")
                line = s.makefile("rb").readline(_MAX_LINE)
        except (FileNotFoundError, ConnectionRefusedError):
            raise TerminalNotRunning("the terminal is not running (no control socket)") from None
        except OSError as exc:
            raise TerminalNotRunning(f"the terminal does not answer: {exc.strerror or exc}") from None
        if not line:
            raise TerminalNotRunning("the terminal closed the control socket")
        reply = json.loads(line)
        if reply.get("id") != rid:
            raise EdgeError("control reply out of order")
        if not reply.get("ok"):
            raise EdgeError(str(reply.get("error")))
        data: dict[str, Any] = reply["data"]
        return data
