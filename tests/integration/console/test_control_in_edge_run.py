"""``shegong edge run`` opens the control socket beside the sync agent: a console finds the running
terminal there, sees it online on a real Mosquitto, and asks it to reconnect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from edge.console.control import ControlClient, TerminalNotRunning, socket_path
from tests.support import CASE_PUBLIC_KEY, wait_for

SHEGONG = Path(sys.executable).with_name("shegong")


def test_edge_run_serves_the_control_socket(tmp_path, broker):
    data, run = tmp_path / "edge", tmp_path / "run"
    env = {
        **os.environ,
        "SHEGONG_DATA_DIR": str(data),
        "SHEGONG_RUN_DIR": str(run),
        "SHEGONG_TERMINAL_ID": "T-0001",
        "SHEGONG_BROKER_PORT": str(broker.port),
        "SHEGONG_HUB_PUBLIC_KEY": CASE_PUBLIC_KEY,
    }
    proc = subprocess.Popen([str(SHEGONG), "edge", "run", "--no-kiosk"], env=env, stderr=subprocess.PIPE, text=True)
    client = ControlClient(socket_path(run))
    try:

        def online() -> dict | None:
            try:
                status = client.request("status")
            except TerminalNotRunning:
                return None
            return status if status["link"] == "online" else None

        status = wait_for(online, timeout=30, what="the running terminal online, over its control socket")
        assert status["pid"] == proc.pid and status["devices"] == {}
        connects = status["stats"]["connects"]
        assert client.request("reconnect") == {"asked": "reconnect"}
        wait_for(lambda: (online() or {}).get("stats", {}).get("connects", 0) > connects, what="a reconnect")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
