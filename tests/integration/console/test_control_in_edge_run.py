"""``shegong edge run`` opens its one control socket beside the sync agent: a console finds the running
terminal there, sees it online on a real Mosquitto, and asks it to reconnect; ``shegong edge nightly`` runs
the night through the same socket, inside the service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from edge.control import ControlClient, TerminalNotRunning, socket_path
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
        "SHEGONG_NIGHT_REPLY_TIMEOUT_S": "2",  # no hub answers here
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
        assert client.request("reconnect") == {"asked": "reconnect", "outcome": "reconnecting"}
        status = wait_for(lambda: (s := online()) and s["stats"]["connects"] > connects and s, what="a reconnect")
        # `shegong edge nightly` asks the same socket: the night runs in the service, on its link (a second
        # agent under the same client id would have knocked the service's connection off the broker).
        night = subprocess.run([str(SHEGONG), "edge", "nightly"], env=env, capture_output=True, text=True, timeout=300)
        summary = json.loads(night.stdout)
        assert night.returncode == (0 if summary["ok"] else 1) and summary["steps"], night.stderr
        after = client.request("status")
        assert after["stats"]["link_losses"] == status["stats"]["link_losses"], "the night used the service's link"
        assert after["stats"]["connects"] == status["stats"]["connects"]
        assert sorted(p.name for p in run.iterdir() if p.is_socket()) == ["control.sock"], "one socket"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
