"""``shegong demo`` as a newcomer runs it: started as a subprocess, its URLs answer, it outlives its broker,
and SIGINT stops everything it started — broker, hub, terminals and simulators — leaving no process behind.

The banner gives each kiosk's way in for its browser (this start's secret in the URL: the kiosk serves
no other client) and a staff PIN made for this run (none ships with the kiosk); every file the demo and
its processes write — keys, databases, logs — is its user's alone (0600, folders 0700)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing

import psutil

from tests.support import wait_for


def test_the_demo_starts_answers_survives_its_broker_dying_and_stops_cleanly_on_sigint(tmp_path):
    """One demo run (two terminals, fewer processes on a loaded CI machine; the demo defaults to three): its
    ways in answer; then Mosquitto is killed under it and the demo says so — the part, its exit code, its
    log's last lines — starts it again on its port, and a case submitted at a terminal afterwards reaches
    the hub; SIGINT then stops everything, the second broker too, and every file it wrote is private."""
    from hub import casekey

    out = tmp_path / "demo.out"
    folder = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "demo", "--dir", str(folder), "--fresh"]
        + ["--hub-port", "0", "--kiosk-port", "0", "--terminals", "2"],
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
        pin = re.search(r"staff id demo, PIN (\d{6}) ", text)
        assert pin and pin.group(1) != "246810", "the demo makes its own staff PIN"
        ways_in = re.findall(r"kiosk (http://127\.0\.0\.1:\d+/kiosk/open\?key=\S+)", text)
        assert len(ways_in) == 2, text
        kiosk = ways_in[0].split("/kiosk/")[0]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        assert _status(urllib.request.build_opener(), kiosk + "/") == 403  # not the kiosk's browser
        assert _status(browser, ways_in[0]) == 200
        assert _status(browser, kiosk + "/") == 200

        brokers = [p for p in descendants if p.name() == "mosquitto"]
        assert len(brokers) == 1, "the demo runs one broker"
        brokers[0].kill()
        wait_for(lambda: "demo: broker (mosquitto) restarted" in out.read_text(), timeout=30, what="the restart")
        text = out.read_text()
        assert "demo: broker (mosquitto) stopped (exit code -9)" in text
        assert f"demo: last lines of {folder / 'broker' / 'mosquitto.log'}:" in text, "its log's last lines"
        again = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "mosquitto"]
        assert len(again) == 1 and again[0].pid != brokers[0].pid
        assert proc.poll() is None, "the demo goes on"
        descendants += again

        terminal = "JW001-K1"
        submitted = subprocess.run(
            [sys.executable, "-m", "shegong.cli", "edge", "submit", "--item", "MZ-001"]
            + ["--id-number", "310101195503120029", "--name", "张三"],
            env={
                **os.environ,
                **casekey.for_one_machine(folder),
                "SHEGONG_EDGE_CONFIG": str(folder / "edge.toml"),
                "SHEGONG_TERMINAL_ID": terminal,
                "SHEGONG_COMMITTEE_CODE": "JW001",
                "SHEGONG_DATA_DIR": str(folder / "edges" / terminal),
            },
            capture_output=True,
            check=True,
            timeout=60,
        )
        case_id = json.loads(submitted.stdout)["case_id"]
        wait_for(lambda: _hub_has(folder / "hub.db", case_id), timeout=90, what="the case at the hub")
        with closing(sqlite3.connect(folder / "hub.db")) as conn:  # the hub's pages name it as the kiosk does
            assert conn.execute("SELECT name FROM committees WHERE code = 'JW001'").fetchone() == ("梅园一村居委会",)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    time.sleep(0.5)
    alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    open_ = {
        str(path.relative_to(folder)): oct(stat.S_IMODE(path.stat().st_mode))
        for path in [folder, *folder.rglob("*")]
        if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077
    }
    assert not open_, f"readable by others: {open_}"


def _status(opener: urllib.request.OpenerDirector, url: str) -> int:
    try:
        with opener.open(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


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


def _hub_has(db, case_id: str) -> bool:
    with closing(sqlite3.connect(db)) as conn:  # closed here: closing later removes -wal/-shm under the mode check
        return conn.execute("SELECT count(*) FROM cases WHERE case_id = ?", (case_id,)).fetchone()[0] == 1
