"""The running terminal's one control socket: how the maintenance console and ``shegong edge nightly`` ask
the terminal (``shegong edge run``) for what only it can do, on its own link, devices and store.

A Unix stream socket, ``control.sock`` in the terminal's runtime folder (the folder 0700, the socket 0600:
only the terminal's own user, and root, connect). One JSON object per line each way: a request
``{"op": …, "id": …, "args": {…}}`` and its reply ``{"id": …, "ok": true, "data": {…}}`` or
``{"id": …, "ok": false, "error": …}``, paired by ``id``. The ops:

- ``status``: the link, the last ack, the clock offset, the catalogue versions, the devices' health;
- ``send_now``, ``reconnect``, ``resync``, ``fetch_catalogue``: asked of the sync agent, answered with what it
  did (``outcome``);
- ``device.self_test``, ``device.tap``, ``device.printer``, ``device.slip``, ``device.scan``: a technician's
  device tests, on the kiosk's device service while it holds the ports, else on the ports; results masked;
- ``staff_pins``: read the staff PINs from the configuration file again (after a PIN reset), no restart;
- ``night``: run the night here, on this terminal's link (one at a time), answered with its summary.

Every technician action (sync asks and device tests) goes into the terminal's audit chain as
``console.<action>``, with no resident in it, under the name the kernel gives the asking process
(:func:`technician`, from the socket's peer credentials), never a name the request declares: whoever reaches
the socket could declare any. The server imports no UI.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pwd
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from edge.errors import EdgeError
from edge.runtime import EdgeRuntime
from edge.store import audit
from edge.store.db import private_dir
from edge.sync.agent import Ask
from kernel.unixsock import peer_credentials, socket_address
from protocol.envelope import utcnow

__all__ = [
    "ASKS",
    "AlreadyRunning",
    "DEVICE_OPS",
    "ControlClient",
    "ControlServer",
    "TerminalNotRunning",
    "Technician",
    "device_audit",
    "hold_service_lock",
    "lock_holder",
    "serve_control",
    "service_running",
    "socket_path",
    "technician",
]

log = logging.getLogger(__name__)
ASKS = {
    "send_now": Ask.SEND_NOW,
    "reconnect": Ask.RECONNECT,
    "resync": Ask.REBIRTH,
    "fetch_catalogue": Ask.FETCH_CATALOGUE,
}
# op → the audit action's name (console.<name>), as the console named them when it opened the ports itself
DEVICE_OPS = {
    "device.self_test": "device_self_test",
    "device.tap": "device_tap",
    "device.printer": "device_printer_status",
    "device.slip": "device_test_slip",
    "device.scan": "device_scan",
}
ASK_WAIT_S = 10.0  # the agent serves asks at every turn of its loop (a fraction of a second)
NIGHT_MAX_S = 3600.0
_MAX_LINE = 64 * 1024
_NO_LOGIN = 0xFFFFFFFF  # the kernel's "unset" audit login uid: a process no login session started (systemd's)


class TerminalNotRunning(EdgeError):
    """No terminal answers on the control socket (not started, or stopped)."""


@dataclass(frozen=True, slots=True)
class Technician:
    """Who acts, as the kernel knows them. ``account``: the user whose rights the process has (its uid): on a
    terminal, the service's own user (``sudo -u shegong``) or root. ``login``: the user who logged in to
    this machine (SSH or its keyboard) in the session the process runs in: the audit login uid, which pam_loginuid
    sets at login, sudo and su keep, and the terminal's user cannot change. ``None`` outside a login session
    (the night's timer)."""

    account: str
    login: str | None

    @property
    def actor(self) -> str:
        """The audit chain's actor: the person where the kernel knows them, else the account."""
        return f"technician:{self.login or self.account}"

    def record(self, conn: Connection, action: str, data: Mapping[str, Any], subject: str = "console") -> None:
        """Append ``console.<action>`` by this technician to the terminal's audit chain; beside ``data``, the
        account acted as, where it is not the person's own."""
        account = {"account": self.account} if self.login not in (None, self.account) else {}
        audit.record(conn, utcnow(), self.actor, f"console.{action}", subject, {**data, **account})


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no name here (a container): the number still tells who it was
        return f"uid:{uid}"


def technician(pid: int, uid: int) -> Technician:
    """The technician behind process ``pid`` running as ``uid``, from the kernel's facts only: names from the
    system's user database, the login from ``/proc/<pid>/loginuid`` (unreadable, as root's processes are to
    the service under ``ProtectProc=invisible``: no login named, the account still is)."""
    try:
        login_uid = int(Path(f"/proc/{pid}/loginuid").read_text())
    except (OSError, ValueError):
        login_uid = _NO_LOGIN
    return Technician(_user(uid), None if login_uid == _NO_LOGIN else _user(login_uid))


def socket_path(runtime_dir: Path) -> Path:
    """Where the terminal listens: ``control.sock`` in its runtime folder."""
    return runtime_dir / "control.sock"


class AlreadyRunning(EdgeError):
    """Another ``shegong edge run`` holds this terminal's service lock."""


def _lock_path(data_dir: Path) -> Path:
    return data_dir / "service.lock"


SERVICE, NIGHT = "service", "night"
"""Who holds the lock (written in it): the running service, or a night run by hand while it was stopped."""


def hold_service_lock(data_dir: Path, holder: str = SERVICE, on_wait: Callable[[], object] | None = None) -> int:
    """Take the running service's lock (an exclusive ``flock`` on ``service.lock`` in the data folder) for as
    long as this process lives, or until its descriptor (returned) is closed. :class:`AlreadyRunning` when
    another process holds it — but a service (``on_wait`` given) finding a night run by hand holding it waits
    for that night, calling ``on_wait`` each second (systemd: more time to start), and then starts.

    Taken before anything else starts: a second ``shegong edge run`` replaced the running service's control
    socket with its own, dead once it stopped, and then ``shegong edge restore`` found "no service" and wrote
    the database over under the running one (a docs review did this twice). A night run by hand while the
    service was down takes it too: the service restarted under it and both connected as the terminal,
    throwing each other off the broker every second and a half for a minute (a chaos review)."""
    private_dir(data_dir)
    fd = os.open(_lock_path(data_dir), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if on_wait is None or os.pread(fd, 16, 0).decode(errors="replace") != NIGHT:
            os.close(fd)
            raise AlreadyRunning(
                f"this terminal's service is running already (it holds {_lock_path(data_dir)}): "
                "one `shegong edge run` per terminal (systemctl status shegong-edge)"
            ) from None
        log.warning("a night run by hand holds this terminal (%s): the service starts once it is done", data_dir)
        while True:
            on_wait()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(1.0)
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    return fd


def service_running(data_dir: Path) -> bool:
    """Whether a process holds the service lock (whatever its control socket says)."""
    return lock_holder(data_dir) is not None


def lock_holder(data_dir: Path) -> str | None:
    """Who holds the service lock: :data:`SERVICE`, :data:`NIGHT` (a night run by hand), or None."""
    try:
        fd = os.open(_lock_path(data_dir), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return NIGHT if os.pread(fd, 16, 0).decode(errors="replace") == NIGHT else SERVICE
    finally:
        os.close(fd)  # a lock taken here goes with the descriptor
    return None


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        peer = peer_credentials(self.connection)
        who = technician(peer.pid, peer.uid)  # at accept: a pid names its process only while that process lives
        for raw in iter(lambda: self.rfile.readline(_MAX_LINE), b""):
            rid = None
            try:
                request = json.loads(raw)
                rid = request.get("id")
                args = request.get("args") or {}
                if not isinstance(args, dict):
                    raise ValueError("args")
                data = self.server.serve(str(request.get("op")), args, who)
                reply = {"id": rid, "ok": True, "data": data}
            except (ValueError, AttributeError, TypeError) as exc:
                reply = {"id": rid, "ok": False, "error": f"bad request: {type(exc).__name__}"}
            except EdgeError as exc:
                reply = {"id": rid, "ok": False, "error": str(exc)}
            except Exception as exc:  # a bug: the technician hears its name, the log has the trace
                log.exception("control op failed")
                reply = {"id": rid, "ok": False, "error": type(exc).__name__}
            self.wfile.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")


class ControlServer(socketserver.ThreadingUnixStreamServer):
    """Serves the control socket of the running terminal ``rt`` in a daemon thread (``start``/``close``)."""

    daemon_threads = True

    def __init__(self, rt: EdgeRuntime, path: Path, app_version: str = "") -> None:
        private_dir(path.parent)
        path.unlink(missing_ok=True)  # a socket left by a killed terminal
        old = os.umask(0o177)
        try:
            with socket_address(path) as address:
                super().__init__(address, _Handler)
        finally:
            os.umask(old)
        self.path = path
        self.rt = rt
        self.app_version = app_version
        self.started = time.time()
        self._night = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="edge-control", daemon=True)

    def start(self) -> ControlServer:
        self._thread.start()
        log.info("control socket at %s", self.path)
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ ops
    def serve(self, op: str, args: dict[str, Any], who: Technician) -> dict[str, Any]:
        """Carry out ``op`` asked by ``who`` (the peer the kernel names), recording technician actions."""
        if op == "status":
            return self.status()
        if op in ASKS:
            return self._audited(who, op, lambda: self._ask(op), lambda r: {"outcome": r["outcome"]})
        if op in DEVICE_OPS:
            return self._audited(who, DEVICE_OPS[op], lambda: self._device(op, args), device_audit(op))
        if op == "staff_pins":
            return self.reload_staff_pins()
        if op == "night":
            return self.night()
        raise EdgeError(f"unknown op {op[:40]!r}")

    def status(self) -> dict[str, Any]:
        rt = self.rt
        agent = rt.agent
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
            "catalogue_in_force": rt.catalogue.version,
            **rt.catalogue_sync.state(),
            "devices": json.loads(json.dumps(agent.health(), default=str)),  # the kiosk's DeviceHealth.as_dict()
            "devices_held": rt.devices is not None,
        }

    def _ask(self, op: str) -> dict[str, Any]:
        try:
            outcome = self.rt.agent.ask(ASKS[op]).result(ASK_WAIT_S)
        except TimeoutError:
            raise EdgeError("the sync agent did not take the request (its loop is stalled)") from None
        return {"asked": op, "outcome": outcome}

    def _device(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        from edge.devices.checks import (  # serial libraries: only when asked
            Checks,
            PortChecks,
            ServiceChecks,
            run_check,
        )

        checks: Checks = (
            ServiceChecks(self.rt.devices) if self.rt.devices is not None else PortChecks.of(self.rt.settings)
        )
        return run_check(checks, op, args)

    def _audited(
        self,
        who: Technician,
        action: str,
        run: Callable[[], dict[str, Any]],
        audited: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run a technician's action and record it, done or failed, in the audit chain (never a resident)."""
        try:
            result = run()
        except Exception as exc:
            self._record(who, action, {"ok": False, "error": type(exc).__name__})
            if isinstance(exc, EdgeError):
                raise
            raise EdgeError(f"{type(exc).__name__}: {exc}"[:200]) from None
        self._record(who, action, {"ok": True, **audited(result)})
        return result

    def _record(self, who: Technician, action: str, data: dict[str, Any]) -> None:
        with self.rt.engine.begin() as conn:
            who.record(conn, action, data)

    def reload_staff_pins(self) -> dict[str, Any]:
        """Read the staff PIN entries from the configuration again and hand them to the kiosk."""
        try:
            entries = type(self.rt.settings)().kiosk.staff_pins or ""
        except ValueError as exc:  # pydantic's ValidationError: the file as it is now does not load
            raise EdgeError(f"the configuration does not load: {str(exc)[:160]}") from None
        try:
            for listener in self.rt.on_staff_pins:
                listener(entries)
        except ValueError as exc:  # an entry that does not parse: the PINs held stay as they were
            raise EdgeError(str(exc)[:200]) from None
        staff = len([e for e in entries.split(",") if e.strip()])
        log.info("staff PINs read again: %d staff member(s)", staff)
        return {"staff": staff, "applied": len(self.rt.on_staff_pins)}

    def night(self) -> dict[str, Any]:
        from edge.night.steps import run_night

        with self._night:
            summary: dict[str, Any] = json.loads(run_night(self.rt).as_json())
        return summary


def device_audit(op: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What of a device test's result goes into the audit: never the card's or the scan's content."""
    if op in ("device.self_test",):
        return lambda r: {"bad_frames": r["bad_frames"]}
    if op == "device.tap":
        return lambda r: {"card_type": r["card_type"], "bad_frames": r["bad_frames"]}
    if op == "device.scan":
        return lambda r: {"scanned": r["text"] is not None}
    return lambda r: {"state": r["state"]}


@contextmanager
def serve_control(rt: EdgeRuntime, app_version: str = "") -> Iterator[ControlServer]:
    """Run the control socket of ``rt`` (in its runtime folder) for the duration of the ``with``."""
    server = ControlServer(rt, socket_path(rt.settings.runtime_dir), app_version).start()
    try:
        yield server
    finally:
        server.close()


class ControlClient:
    """The asking side: one short connection per request, so a restarted terminal is simply found again.
    It says nothing of who asks: the terminal learns that from the kernel."""

    def __init__(self, path: Path, timeout_s: float = 3.0) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def request(self, op: str, args: dict[str, Any] | None = None, timeout_s: float | None = None) -> dict[str, Any]:
        """Send ``op`` and return the reply's data; :class:`TerminalNotRunning` or :class:`EdgeError` if not."""
        rid = str(uuid.uuid4())
        message = {"op": op, "id": rid, "args": args or {}}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout_s)
                with socket_address(self.path) as address:
                    s.connect(address)
                s.settimeout(timeout_s or self.timeout_s)
                s.sendall(json.dumps(message, ensure_ascii=False).encode() + b"\n")
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
