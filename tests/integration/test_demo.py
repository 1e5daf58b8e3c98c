"""``shegong demo`` as a newcomer runs it: started as a subprocess, its URLs answer, and SIGINT stops
everything it started — broker, hub, terminals and simulators — leaving no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil

from tests.support import wait_for


def test_the_demo_starts_answers_and_stops_cleanly_on_sigint(tmp_path):
    out = tmp_path / "demo.out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shegong.cli",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--fresh",
            "--hub-port",
            "0",
            "--kiosk-port",
            "0",
            "--terminals",
            "2",  # fewer processes on a loaded CI machine; the demo itself defaults to three
        ],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "SHEGONG_LOG_LEVEL": "WARNING"},
    )
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text(), timeout=60, what="the demo's banner")
        text = out.read_text()
        hub_url = next(line.split()[1] for line in text.splitlines() if line.strip().startswith("hub:"))
        health = wait_for(lambda: _get_json(f"{hub_url.rstrip('/')}/healthz"), timeout=60, what="the hub's web")
        assert health["ok"] is True
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 1 + 1 + 2 * 4, "broker, hub, and per terminal an edge and three simulators"
        wait_for(
            lambda: proc.poll() is not None or health_terminals(hub_url) == 2,
            timeout=120,
            what="both terminals born at the hub",
        )
        assert proc.poll() is None, f"the demo stopped early:\n{out.read_text()[-2000:]}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    time.sleep(0.5)
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"


def _get_json(url: str) -> dict | None:
    """The JSON at ``url``, or None while the server is not answering yet (a loaded CI machine)."""
    try:
        return json.load(urllib.request.urlopen(url, timeout=5))
    except OSError:
        return None


def health_terminals(hub_url: str) -> int:
    """Terminals online, as the demo's seeded manager sees them through the API (0 while not answering)."""
    base = hub_url.rstrip("/")
    login = urllib.request.Request(
        f"{base}/api/auth/login",
        data=json.dumps({"username": "manager", "password": "manager-demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        token = json.load(urllib.request.urlopen(login, timeout=5))["token"]
        query = urllib.request.Request(f"{base}/api/terminals", headers={"Authorization": f"Bearer {token}"})
        data = json.load(urllib.request.urlopen(query, timeout=5))
    except OSError:
        return 0
    return sum(1 for t in data["terminals"] if t["online"])
