"""DESIGN §6, TLS on the MQTT link: a terminal given a broker password but no CA file would send that
password in clear, so it refuses to start (``InsecureLink``; ``shegong edge run`` exits 2 saying why)
and never opens a connection, whichever way its agent is run. ``broker_insecure = true`` — the demo's
loopback broker — lets it connect in clear, with a warning.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.sync.agent import InsecureLink
from tests.support import wait_for

pytestmark = pytest.mark.timeout(60)


class Listener:
    """A plain TCP port that records whether anyone connected and what they sent."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                self.received += conn.recv(4096)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_a_password_without_a_ca_file_is_refused_before_any_connection(edge_factory):
    listener = Listener()
    try:
        edge = edge_factory(port=listener.port, broker_password="terminal-password")
        with pytest.raises(InsecureLink, match="broker_tls_ca"):
            edge.start_sync()
        # The agent's own loop, run without start(): it stops at once and has connected to nothing.
        runner = threading.Thread(target=edge.agent.run, daemon=True)
        runner.start()
        runner.join(5)
        assert not runner.is_alive(), "the agent should stop instead of connecting in clear"
        assert listener.connections == 0 and b"terminal-password" not in listener.received
    finally:
        listener.close()


def test_shegong_edge_run_says_why_and_exits_2(tmp_path: Path):
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(tmp_path / "edge"),
        "SHEGONG_BROKER_PASSWORD": "terminal-password",
        "SHEGONG_KIOSK_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "shegong.cli", "edge", "run", "--no-kiosk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "broker_tls_ca" in done.stderr and "broker_insecure" in done.stderr
    assert "terminal-password" not in done.stderr


def test_broker_insecure_lets_a_demo_terminal_connect_in_clear(edge_factory, caplog):
    edge = edge_factory(broker_password="demo-password", broker_insecure=True)
    with caplog.at_level("WARNING", logger="edge.sync.agent"):
        edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online over plain MQTT")
    assert any("broker_insecure" in r.getMessage() for r in caplog.records)
