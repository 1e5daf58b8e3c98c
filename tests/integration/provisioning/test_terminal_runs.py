"""A provisioned terminal serves, and ``shegong provision rotate`` re-keys it, against a real TLS Mosquitto.

The hub here is real: its broker files (CA, server certificate, password file and ACL from
``shegong hub broker``), Mosquitto on TLS with them, and ``shegong hub run --no-web`` ingesting. A
terminal (a real sshd in its own mount namespace) is provisioned; the test then runs, inside it, what
systemd would: the installed unit's ``ExecStart`` with the unit's ``Environment``, as its ``User`` with
its groups, in the folders systemd would make. A case submitted there reaches the hub's database over
TLS with the credentials the hub issued at provisioning.

A rotate that fails on the terminal after the hub issued the new password (its /etc read-only) leaves the
terminal its old one, which the broker still takes; one whose broker reload fails says so, with the fix.
``rotate`` then gives the terminal a new password: the broker, reloaded, refuses the old one and accepts
the new one, which is what the terminal now holds.
``retire`` is refused while a case waits in the terminal's outbox; forced with nowhere to keep the copy,
it fails before touching the terminal; forced, it copies that outbox to the administrator first (0600, in
a 0700 folder; the terminal's database is its service user's, 0600, yet the SSH user here is an
administrator with sudo, not root, and nothing of the copy is left open to others or behind in /tmp),
then the broker refuses the terminal, the hub's register no longer lists it, the fleet dashboard shows it
retired, and its data, configuration and enabled units are gone. All of it as that administrator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from harness.broker import Mosquitto, free_port
from hub.broker import auth as brokerauth
from provisioning.render import toml_value
from tests.integration.provisioning.conftest import (
    SHEGONG,
    TmpWatch,
    as_unit,
    provision,
    sudo_admin,
    unit_of,
    write_inventory,
)
from tests.integration.provisioning.sshd import skip_reason
from tests.support import id_number, wait_for

pytestmark = [pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())), pytest.mark.timeout(900)]


def _login(port: int, ca: str, user: str, password: str) -> bool:
    """Whether the broker accepts ``user``/``password`` over TLS (the CONNACK's reason code)."""
    got: dict[str, bool] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"check-{user}", protocol=MQTTProtocolVersion.MQTTv5)
    client.tls_set(ca_certs=ca)
    client.username_pw_set(user, password)

    def on_connect(_c: object, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        got["ok"] = not reason.is_failure
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(15), "no CONNACK"
        return got["ok"]
    finally:
        client.disconnect()
        client.loop_stop()


def _file_takes(passwd: Path, user: str, password: str) -> bool:
    """Whether Mosquitto's password file takes ``password`` for ``user``: its ``$7$`` line checked here as
    the broker checks it (PBKDF2-HMAC-SHA512, iterations, salt and hash in base64), whatever it last reloaded."""
    for line in passwd.read_text().splitlines():
        name, _, entry = line.partition(":")
        if name == user:
            _, kind, rounds, salt, digest = entry.split("$")
            assert kind == "7", entry
            want = base64.b64decode(digest)
            return (
                hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds), len(want)) == want
            )
    return False


def _hub_env(hub: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in hub.items() if k.startswith("SHEGONG_")}


def _hub_cases(db: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])


def test_provisioned_terminal_sends_a_case_over_tls_and_rotate_rekeys_it(tmp_path: Path, wheels: Path, hub, terminals):
    files = brokerauth.BrokerFiles(Path(hub["broker_dir"]))
    broker = Mosquitto(tmp_path / "mosquitto", auth=files.auth(), tls=files.tls()).start()
    ingest = None
    try:
        hub["reload_broker"] = f"kill -HUP {broker.proc.pid}"  # type: ignore[union-attr]
        (t1,) = terminals(1)
        uid = sudo_admin(t1)
        edge = {"kiosk": {"port": free_port()}, "devices": {"reader": "", "printer": "", "scanner": ""}}
        inventory = write_inventory(tmp_path, wheels, hub, [t1], broker_port=broker.port, ssh_user="admin", edge=edge)
        first = provision("apply", str(inventory))
        assert first.returncode == 0, first.stdout + first.stderr

        db = hub["SHEGONG_HUB_DATABASE_URL"].removeprefix("sqlite:///")
        ingest = subprocess.Popen(
            [SHEGONG, "hub", "run", "--no-web"],
            env={
                **os.environ,
                "SHEGONG_HUB_DATABASE_URL": hub["SHEGONG_HUB_DATABASE_URL"],
                "SHEGONG_HUB_BROKER_PORT": str(broker.port),
                "SHEGONG_HUB_BROKER_USERNAME": "hub",
                "SHEGONG_HUB_BROKER_PASSWORD": hub["hub_password"],
                "SHEGONG_HUB_BROKER_TLS_CA": hub["ca"],
            },
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "hub.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        unit = unit_of(t1, "shegong-edge.service")
        assert unit["User"] == ["shegong"] and unit["Type"] == ["notify"]
        submit = f"/opt/shegong/current/bin/shegong edge submit --item MZ-001 --id-number {id_number()} --name 张三"
        done = subprocess.run(as_unit(t1, unit, submit), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        log = open(tmp_path / "edge.log", "wb")  # noqa: SIM115 - closed with the process
        terminal = subprocess.Popen(as_unit(t1, unit), stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(lambda: _hub_cases(db) == 1, timeout=60, what="the terminal's case at the hub")
            # The timer's night, as its unit starts it, through the running terminal's control socket.
            night = subprocess.run(
                as_unit(t1, unit_of(t1, "shegong-edge-night.service")), capture_output=True, text=True
            )
            assert night.returncode == 0, night.stdout + night.stderr
            steps = {s["name"]: s["ok"] for s in json.loads(night.stdout)["steps"]}
            assert steps["reconcile"] and steps["backup"], steps
        finally:
            terminal.send_signal(signal.SIGTERM)
            assert terminal.wait(30) == 0, (tmp_path / "edge.log").read_text()[-2000:]
        owner = t1.run("stat -c '%U %a' /var/lib/shegong/edge.db").stdout.strip()
        assert owner == "shegong 600", "the terminal's database is its user's alone"

        old = tomllib.loads(t1.run("cat /etc/shegong/edge.toml").stdout)["broker_password"]
        assert _login(broker.port, hub["ca"], "JW001-K1", old)

        # The terminal's files cannot be written (its /etc gone read-only, as a failing SD card's does) after
        # the hub issued the new password: the rotate fails there, and the terminal keeps the password it
        # holds, which the broker's file takes again, so the broker (reloaded by the rotate) still lets it in.
        config = t1.run("md5sum /etc/shegong/edge.toml").stdout
        t1.run("mount -o remount,ro /etc")
        try:
            broken = provision("rotate", str(inventory), "--limit", "JW001-K1")
        finally:
            t1.run("mount -o remount,rw /etc")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        assert "terminal=JW001-K1 changed=0 failed=1" in broken.stdout
        assert (
            "JW001-K1: its new broker password never reached it: it keeps its old broker password, which the "
            "broker takes (put back at the hub)" in broken.stderr
        )
        assert t1.run("md5sum /etc/shegong/edge.toml").stdout == config, "what the terminal holds is untouched"
        assert _file_takes(Path(hub["broker_dir"], "passwd"), "JW001-K1", old), "any later reload keeps it"
        time.sleep(1)  # the rotate's reload (SIGHUP) is taken at the broker's next turn
        assert _login(broker.port, hub["ca"], "JW001-K1", old), "the terminal still connects"

        # The reverse: the terminal got its new password, but the broker could not be reloaded. Said, with the
        # command that fixes it; the broker's file takes the new password already, so any reload will do.
        reload = f"reload_broker = {toml_value(hub['reload_broker'])}"
        inventory.write_text(inventory.read_text().replace(reload, 'reload_broker = "false"'))
        unreloaded = provision("rotate", str(inventory), "--limit", "JW001-K1")
        inventory.write_text(inventory.read_text().replace('reload_broker = "false"', reload))
        assert unreloaded.returncode == 1, unreloaded.stdout + unreloaded.stderr
        assert "terminal=JW001-K1 changed=1 failed=1" in unreloaded.stdout
        assert "the broker refuses its new password until it reloads its users — on the hub: false" in unreloaded.stderr
        held = tomllib.loads(t1.run("cat /etc/shegong/edge.toml").stdout)["broker_password"]
        assert held != old and _file_takes(Path(hub["broker_dir"], "passwd"), "JW001-K1", held)
        broker.reload()
        time.sleep(1)
        assert _login(broker.port, hub["ca"], "JW001-K1", held), "reloaded by hand, the broker takes it"
        old = held

        rotated = provision("rotate", str(inventory), "--limit", "JW001-K1")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        assert "terminal=JW001-K1 changed=1 failed=0" in rotated.stdout
        new = tomllib.loads(t1.run("cat /etc/shegong/edge.toml").stdout)["broker_password"]
        assert new != old
        assert not _login(broker.port, hub["ca"], "JW001-K1", old), "the old password is refused after rotate"
        assert _login(broker.port, hub["ca"], "JW001-K1", new), "the new one, which the terminal holds, is accepted"
        assert _file_takes(Path(hub["broker_dir"], "passwd"), "JW001-K1", new)
        assert not _file_takes(Path(hub["broker_dir"], "passwd"), "JW001-K1", old)

        done = subprocess.run(as_unit(t1, unit, submit), capture_output=True, text=True)  # queued, not yet sent
        assert done.returncode == 0, done.stderr
        refused = provision("retire", str(inventory), "--limit", "JW001-K1")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "terminal=JW001-K1 changed=0 failed=1" in refused.stdout
        assert "outbox holds 1 undelivered item(s): not retired" in refused.stderr
        assert t1.run("test -s /var/lib/shegong/edge.db && test -s /etc/shegong/edge.toml", check=False).returncode == 0
        assert _login(broker.port, hub["ca"], "JW001-K1", new), "a refused retire leaves the terminal as it was"

        kept = tmp_path / "retired" / "JW001-K1-edge.db"
        kept.parent.write_text("")  # no folder can be made there: nothing is done to the terminal
        nowhere = provision("retire", str(inventory), "--limit", "JW001-K1", "--force")
        assert nowhere.returncode == 1, nowhere.stdout + nowhere.stderr
        assert "terminal=JW001-K1 changed=0 failed=1" in nowhere.stdout
        assert f"its outbox cannot be kept in {kept.parent}: File exists: not retired" in nowhere.stderr
        assert t1.run("systemctl is-enabled shegong-edge.service").stdout.strip() == "enabled"
        assert t1.run("test -s /var/lib/shegong/edge.db && test -s /etc/shegong/edge.toml", check=False).returncode == 0
        assert _login(broker.port, hub["ca"], "JW001-K1", new), "the terminal is left as it was"
        kept.parent.unlink()

        kept.parent.mkdir(mode=0o755)  # as an administrator's umask makes it, with a stale copy in it
        kept.write_bytes(b"")
        kept.chmod(0o644)
        # The hub fails part-way: the broker user is revoked, its database cannot be reached to take the
        # terminal out of the register. Revoked, the terminal could deliver nothing more: it is retired
        # all the same, and the administrator is told the command that finishes it at the hub.
        working = inventory.read_text()
        url = hub["SHEGONG_HUB_DATABASE_URL"]
        inventory.write_text(working.replace(toml_value(url), toml_value("sqlite:////etc/hostname/hub.db")))
        with TmpWatch(uid) as watch:
            forced = provision("retire", str(inventory), "--limit", "JW001-K1", "--force")
        inventory.write_text(working)
        assert forced.returncode == 1, forced.stdout + forced.stderr
        assert "terminal=JW001-K1 changed=1 failed=1" in forced.stdout
        assert "run `shegong hub terminal retire JW001-K1` on the hub" in forced.stderr
        assert "1 undelivered item(s) kept in" in forced.stderr
        assert oct(kept.stat().st_mode & 0o777) == "0o600"
        assert oct(kept.parent.stat().st_mode & 0o777) == "0o700", "personal data: in a folder of its own"
        assert sorted(p.name for p in kept.parent.iterdir()) == [kept.name]
        with sqlite3.connect(kept) as conn:
            assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1, "the undelivered case, kept"
        assert watch.open_to_others == [], "the terminal's database was readable by others on its way here"
        left = subprocess.run(["find", "/tmp", "-maxdepth", "1", "-uid", str(uid)], capture_output=True, text=True)
        assert left.stdout == "", "the copy's folder on the terminal is removed"
        assert t1.run("ls /var/lib/shegong /etc/shegong", check=False).returncode != 0, "data and config removed"
        state = t1.run("systemctl is-enabled shegong-edge.service", check=False).stdout.strip()
        assert state in {"disabled", ""}, state
        assert not _login(broker.port, hub["ca"], "JW001-K1", new), "its broker user is revoked"
        again = provision("retire", str(inventory), "--limit", "JW001-K1")  # as after a run cut short
        assert again.returncode == 0, again.stdout + again.stderr
        assert "terminal=JW001-K1 changed=1 failed=0" in again.stdout
        listed = subprocess.run(
            [SHEGONG, "hub", "terminal", "list"], env={**os.environ, **_hub_env(hub)}, capture_output=True, text=True
        )
        assert listed.returncode == 0 and "JW001-K1" not in listed.stdout, "out of the terminal register"
        with sqlite3.connect(db) as conn:
            state = conn.execute("SELECT state FROM fleet_terminals WHERE terminal_id = 'JW001-K1'").fetchone()
        assert state == ("retired",), "shown retired on the fleet dashboard"
    finally:
        if ingest is not None:
            ingest.terminate()
            ingest.wait(20)
        broker.kill()
