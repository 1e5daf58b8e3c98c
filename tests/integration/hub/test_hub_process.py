"""The hub as an administrator starts it, ``shegong hub …`` in its own process, and what it leaves on disk.

A hub given a broker password but no CA file would send that password in clear text: it refuses to start
(exit code 2 and a message naming the settings) unless ``broker_insecure`` says so, as the loopback demo
does. A hub on SQLite that made its case key, ingested a case from a real terminal and exported a report
has made every file 0600: the database, its WAL and shared memory, the key and the export (DESIGN §6).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.store.cases import NewCase
from protocol import topics
from protocol.state import HubState
from tests.support import applicant, wait_for


def _shegong(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "shegong.cli", *args], env=env, capture_output=True, text=True, timeout=60, **kwargs
    )


def _hub_online(port: int) -> bool:
    """The broker holds the hub's retained state saying online."""
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    c.on_connect = lambda cl, *_: cl.subscribe(topics.hub_state(), qos=1)
    c.on_message = lambda _c, _u, m: (got.append(m.payload), done.set())
    c.connect("127.0.0.1", port)
    c.loop_start()
    done.wait(1)
    c.loop_stop()
    c.disconnect()
    return bool(got) and HubState.model_validate_json(got[0]).body.online


def _hub_env(folder: Path, broker_port: int, **settings: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SHEGONG_LOG_LEVEL": "WARNING",
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{folder / 'hub.db'}",
        "SHEGONG_HUB_CASE_KEY_FILE": str(folder / "hub-case.key"),
        "SHEGONG_HUB_BROKER_PORT": str(broker_port),
        "SHEGONG_HUB_WEB_PORT": "0",
    }
    env.update({f"SHEGONG_HUB_{k.upper()}": v for k, v in settings.items()})
    return env


@pytest.fixture
def hub_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hub"
    folder.mkdir()
    return folder


def test_a_broker_password_without_a_ca_file_stops_the_hub_unless_marked_insecure(hub_folder, broker):
    env = _hub_env(hub_folder, broker.port, broker_password="hub-secret-1")
    assert _shegong("hub", "keys", "init", env=env).returncode == 0
    refused = _shegong("hub", "run", "--no-web", env=env)
    assert refused.returncode == 2, refused.stderr
    assert "broker_tls_ca" in refused.stderr and "broker_insecure" in refused.stderr
    assert "Traceback" not in refused.stderr

    insecure = {**env, "SHEGONG_HUB_BROKER_INSECURE": "true"}  # as the demo sets it for its loopback broker
    proc = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=insecure,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Started and connected: its retained state says online (a loaded machine may take a while to import).
        wait_for(lambda: proc.poll() is not None or _hub_online(broker.port), timeout=60, what="the hub online")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_every_file_the_hub_makes_is_readable_by_its_owner_alone(hub_folder, broker, edge_factory):
    env = _hub_env(hub_folder, broker.port)
    keys = _shegong("hub", "keys", "init", env=env)
    assert keys.returncode == 0, keys.stderr
    hub = subprocess.Popen(
        [sys.executable, "-m", "shegong.cli", "hub", "run", "--no-web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        edge = edge_factory("T1", hub_public_key=keys.stdout.strip())
        edge.start_sync()
        edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(3), materials=["身份证"]))
        wait_for(lambda: edge.outbox.stats().depth == 0, timeout=60, what="the case committed at the hub")
        report = _shegong("hub", "report", "--csv", str(hub_folder / "report.csv"), env=env)
        assert report.returncode == 0, report.stderr
        made = {p.name: stat.S_IMODE(p.stat().st_mode) for p in hub_folder.iterdir()}  # the WAL is there now
    finally:
        hub.terminate()
        hub.wait(10)
    assert {"hub.db", "hub.db-wal", "hub.db-shm", "hub-case.key", "report.csv"} <= set(made), made
    assert {name: mode for name, mode in made.items() if mode & 0o077} == {}, made
