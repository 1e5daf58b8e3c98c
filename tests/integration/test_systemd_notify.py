"""The terminal speaks systemd's notify protocol, as its unit (``Type=notify``, ``WatchdogSec=``) expects.

The test plays systemd's part: it binds the datagram socket named by ``NOTIFY_SOCKET`` and starts
``shegong edge run`` exactly as the unit does, with ``WATCHDOG_USEC``. The terminal says ``READY=1`` once
its kiosk listens, then ``WATCHDOG=1`` again and again while the sync agent's loop turns and the kiosk
answers HTTP; on SIGTERM it says ``STOPPING=1`` and exits 0. A :class:`~edge.watchdog.Watchdog` whose check
fails sends no ping, so systemd would kill and restart the service; one whose check passes again pings
again. An abstract socket address (``@name``) works as systemd gives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.watchdog import Watchdog, notify
from harness.broker import free_port

pytestmark = pytest.mark.timeout(60)


def _listen(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    return sock


def _messages(sock: socket.socket, seconds: float) -> list[str]:
    got: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            got.append(sock.recv(4096).decode())
    return got


def _until(sock: socket.socket, wanted: str, timeout: float) -> list[str]:
    got: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if any(wanted in m for m in got):
            return got
    raise AssertionError(f"no {wanted!r} from the service within {timeout} s; got {got}")


def _running_mark(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'service_running'").fetchone()[0]


def test_edge_run_is_ready_once_the_kiosk_listens_and_feeds_the_watchdog_until_stopped(tmp_path: Path, broker):
    sock = _listen(str(tmp_path / "notify"))
    kiosk_port = free_port()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
        "WATCHDOG_USEC": "400000",  # ping every 0.2 s
        "SHEGONG_DATA_DIR": str(tmp_path / "edge"),
        "SHEGONG_RUN_DIR": str(tmp_path / "run"),
        "SHEGONG_BROKER_PORT": str(broker.port),
        "SHEGONG_KIOSK_PORT": str(kiosk_port),
        "SHEGONG_DEVICES_READER": "",
        "SHEGONG_DEVICES_PRINTER": "",
        "SHEGONG_DEVICES_SCANNER": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "edge", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "edge.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    try:
        ready = _until(sock, "READY=1", 30)
        assert not any("WATCHDOG=1" in m for m in ready), "no watchdog ping before the service is ready"
        assert any(m.startswith("EXTEND_TIMEOUT_USEC=") for m in ready), "more time while the file is checked"
        status = next(m for m in ready if "READY=1" in m)
        assert f"STATUS=serving the kiosk on http://127.0.0.1:{kiosk_port}" in status
        pings = [m for m in _messages(sock, 1.5) if m == "WATCHDOG=1"]
        assert len(pings) >= 4, f"about one ping per 0.2 s while healthy, got {len(pings)}"
        assert _running_mark(tmp_path / "edge" / "edge.db") == 1  # killed now, the next start moves receipts on
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert "STOPPING=1" in _messages(sock, 0.5)
        assert _running_mark(tmp_path / "edge" / "edge.db") == 0  # stopped cleanly: the next start moves nothing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_a_failing_check_withholds_the_pings_so_systemd_restarts_the_service(tmp_path: Path):
    sock = _listen(str(tmp_path / "notify"))
    alive = {"sync": True}
    dog = Watchdog(
        {"sync agent loop": lambda: alive["sync"]},
        env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"},
    ).start()
    try:
        assert len([m for m in _messages(sock, 0.6) if m == "WATCHDOG=1"]) >= 3
        alive["sync"] = False
        _messages(sock, 0.15)  # a ping already on its way
        assert "WATCHDOG=1" not in _messages(sock, 0.8), "a hung part must stop the pings"
        alive["sync"] = True
        assert "WATCHDOG=1" in _messages(sock, 0.6), "pings resume once the check passes"
    finally:
        dog.stop()
        sock.close()


def test_abstract_socket_address_and_no_socket_outside_systemd():
    name = f"shegong-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"READY=1"
    finally:
        sock.close()
    assert not notify("READY=1", {}), "outside systemd there is no one to tell"
    assert Watchdog({}, env={}).start().interval is None, "no WATCHDOG_USEC: no pinging thread"
    assert Watchdog({}, env={"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).interval is None, "another pid's"
