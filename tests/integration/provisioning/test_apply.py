"""``shegong provision apply`` against real OpenSSH servers, one per simulated terminal, each in its own
mount namespace with overlays over /etc, /opt, /var/lib, /var/log and /run (``sshd.py``).

Two terminals are provisioned in parallel from an inventory, with the hub on this machine issuing their
broker users. The first run changes things, and the test then looks inside each terminal: the
``shegong`` system user in ``dialout``; the release under /opt/shegong (installed with no index by the
session's first apply, ``conftest.release_layer``, and found there as a second apply finds it) and
``current`` pointing at it; edge.toml 0600 and the user's, holding the broker password the hub issued
(Mosquitto's password file checks it) and the hub's audit public key as `shegong hub keys audit-public` prints
it, its audit key made there and its public half registered at the hub;
udev rules, journald and time settings, units enabled; sshd keys
only, read by the running sshd. Starting the units is reported skipped (no systemd here), and each host's
seconds per step are said. The second run
reports ``changed=0`` for both. ``--check`` after an inventory edit shows the diff (password masked),
counts the change and changes nothing. sshd settings that refuse the administrator's second connection
are put back over the first: the host is reported failed, and the administrator still gets in. The
machine running the tests has no ``shegong`` user after all.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from tests.integration.provisioning.conftest import (
    SHEGONG,
    TmpWatch,
    provision,
    sudo_admin,
    write_inventory,
)
from tests.integration.provisioning.sshd import skip_reason

pytestmark = [pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())), pytest.mark.timeout(900)]

LINE = re.compile(r"^host=(\S+) terminal=(\S+) changed=(\d+) failed=(\d+)$", re.M)


def _lines(out: str) -> dict[str, tuple[int, int]]:
    return {m.group(2): (int(m.group(3)), int(m.group(4))) for m in LINE.finditer(out)}


def test_apply_twice_in_parallel_then_check_changes_nothing(tmp_path: Path, wheels: Path, hub, terminals):
    t1, t2 = terminals(2)
    inventory = write_inventory(tmp_path, wheels, hub, [t1, t2], series=True)  # as if one committee's two

    first = provision("apply", str(inventory))
    assert first.returncode == 0, first.stdout + first.stderr
    runs = _lines(first.stdout)
    assert set(runs) == {"JW001-K1", "JW002-K1"}
    assert all(changed >= 8 and failed == 0 for changed, failed in runs.values()), first.stdout
    assert "2 terminal(s): 2 changed, 0 unchanged, 0 failed" in first.stdout
    assert first.stderr.count("starting skipped") == 2, first.stderr
    took = re.findall(r"^  (JW00\d-K1): took \d+\.\d s: .*configuration, units and rules \d+\.\d s", first.stderr, re.M)
    assert sorted(took) == ["JW001-K1", "JW002-K1"], "each host says where its time went: " + first.stderr

    hub_env = {"PATH": "/usr/bin:/bin", **{k: v for k, v in hub.items() if k.startswith("SHEGONG_")}}
    printed = subprocess.run(
        [SHEGONG, "hub", "keys", "audit-public"], env=hub_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    for sshd, tid in ((t1, "JW001-K1"), (t2, "JW002-K1")):
        assert sshd.run("id -nG shegong").stdout.split() == ["shegong", "dialout"]
        assert sshd.run("getent passwd shegong | cut -d: -f7").stdout.strip() == "/usr/sbin/nologin"
        current = sshd.run("readlink /opt/shegong/current").stdout.strip()
        assert re.fullmatch(r"/opt/shegong/releases/0\.1\.0-[0-9a-f]{8}", current)
        assert sshd.run("/opt/shegong/current/bin/shegong --help").returncode == 0
        mode = sshd.run("stat -c '%a %U %G' /etc/shegong/edge.toml /var/lib/shegong").stdout.split("\n")
        assert mode[:2] == ["600 shegong shegong", "700 shegong shegong"]
        key = sshd.run("stat -c '%a %U' /var/lib/shegong/audit.key && wc -c < /var/lib/shegong/audit.key")
        assert key.stdout.split() == ["600", "shegong", "45"], "the audit signing key, made once (issue 15)"
        index = sshd.run("stat -c '%U %s' /var/lib/shegong/ime.sqlite").stdout.split()
        assert index[0] == "shegong" and int(index[1]) > 1_000_000, "the kiosk keyboard's pinyin index, built"
        config = tomllib.loads(sshd.run("cat /etc/shegong/edge.toml").stdout)
        assert (config["terminal_id"], config["broker_username"]) == (tid, tid)
        assert config["hub_audit_public_key"] == printed, "it checks the hub's signed anchors with the hub's key"
        assert config["broker_tls_ca"] == "/etc/shegong/broker-ca.crt"
        assert config["receipt_series"] == int(tid[4])  # JW001-K1: 1, JW002-K1: 2
        assert sshd.run("cat /etc/shegong/broker-ca.crt").stdout == Path(hub["ca"]).read_text()
        assert len(config["broker_password"]) >= 20
        enabled = sshd.run(
            "systemctl is-enabled shegong-edge.service shegong-kiosk.service shegong-edge-night.timer"
        ).stdout.split()
        assert enabled == ["enabled", "enabled", "enabled"]
        assert 'SYMLINK+="shegong-reader"' in sshd.run("cat /etc/udev/rules.d/60-shegong.rules").stdout
        assert "SystemMaxUse=200M" in sshd.run("cat /etc/systemd/journald.conf.d/60-shegong.conf").stdout
        assert "NTP=127.0.0.1" in sshd.run("cat /etc/systemd/timesyncd.conf.d/60-shegong.conf").stdout
        policy = json.loads(sshd.run("cat /etc/chromium/policies/managed/shegong-kiosk.json").stdout)
        assert policy["PasswordManagerEnabled"] is False  # the staff PIN is never offered for saving
        # sshd, restarted by provisioning, now refuses what is not a key (its -T prints what it runs with)
        effective = sshd.run(f"sshd -T -f {sshd.root}/sshd_config").stdout
        assert "passwordauthentication no" in effective and "authenticationmethods publickey" in effective
        assert "Received SIGHUP" in sshd.log.read_text()
    users = Path(hub["broker_dir"], "passwd").read_text()
    assert "JW001-K1:" in users and "JW002-K1:" in users, "the hub issued each terminal its broker user"
    # The hub holds each terminal's audit key as the terminal itself prints it, given by provisioning: it
    # never pins one on first use for a provisioned terminal.
    with sqlite3.connect(hub["SHEGONG_HUB_DATABASE_URL"].removeprefix("sqlite:///")) as db:
        held = dict(db.execute("SELECT terminal_id, public_key || ' ' || how FROM terminal_audit_keys"))
        series = dict(db.execute("SELECT terminal_id, receipt_series FROM terminal_register"))
    assert series == {"JW001-K1": 1, "JW002-K1": 2}, "the hub's register holds the series the terminals print"
    for sshd, tid in ((t1, "JW001-K1"), (t2, "JW002-K1")):
        seed = base64.urlsafe_b64decode(sshd.run("cat /var/lib/shegong/audit.key").stdout.strip())
        assert held[tid] == f"{bytes(SigningKey(seed).verify_key).hex()} provisioning"

    second = provision("apply", str(inventory))
    assert second.returncode == 0, second.stdout + second.stderr
    assert _lines(second.stdout) == {"JW001-K1": (0, 0), "JW002-K1": (0, 0)}
    assert "2 terminal(s): 0 changed, 2 unchanged, 0 failed" in second.stdout

    password = tomllib.loads(t1.run("cat /etc/shegong/edge.toml").stdout)["broker_password"]
    before = t1.run("md5sum /etc/shegong/edge.toml").stdout
    inventory.write_text(inventory.read_text().replace('committee_name = "第1居委会"', 'committee_name = "新名居委会"'))
    check = provision("apply", str(inventory), "--check", "--limit", "JW001-K1")
    assert check.returncode == 0, check.stdout + check.stderr
    assert _lines(check.stdout) == {"JW001-K1": (1, 0)}
    assert '-committee_name = "第1居委会"' in check.stdout and '+committee_name = "新名居委会"' in check.stdout
    assert password not in check.stdout + check.stderr, "a diff never shows a secret"
    assert "1 terminal(s): 1 would change, 0 unchanged, 0 failed" in check.stdout
    assert t1.run("md5sum /etc/shegong/edge.toml").stdout == before, "--check changed nothing"

    # sshd settings that would lock the administrator out are put back before the first connection closes
    locked = inventory.read_text().replace(
        f"ssh_port = {t1.port}\n", f'ssh_port = {t1.port}\nsshd_extra = ["AllowUsers nobody"]\n'
    )
    inventory.write_text(locked)
    lockout = provision("apply", str(inventory), "--limit", "JW001-K1")
    assert lockout.returncode == 1, lockout.stdout + lockout.stderr
    assert re.search(r"terminal=JW001-K1 changed=\d+ failed=1", lockout.stdout)
    assert "a second SSH connection was refused with the new sshd settings" in lockout.stderr
    assert "the old settings were put back" in lockout.stderr
    assert "AllowUsers" not in t1.run("cat /etc/ssh/sshd_config.d/50-shegong.conf").stdout
    again = provision("apply", str(inventory), "--check", "--limit", "JW001-K1")
    assert again.returncode == 0, "the administrator still gets in: " + again.stderr

    assert subprocess.run(["id", "shegong"], capture_output=True).returncode != 0, "the test machine is untouched"
    assert not Path("/opt/shegong").exists() and not Path("/etc/shegong/edge.toml").exists()


def test_check_shows_that_a_staff_pin_reset_on_site_would_be_undone(tmp_path: Path, wheels: Path, hub, terminals):
    """The inventory's PINs against a terminal whose PIN was reset at its console: the diff has the line.

    Provisioned by an administrator account with sudo, not root: edge.toml, with the broker password and
    the staff PINs, is never in a file another local user could read while it is written (pyinfra's upload
    with sudo staged it in /tmp, 0644, under a name anyone could guess). /tmp is watched throughout."""
    (t1,) = terminals(1)
    uid = sudo_admin(t1)
    pins = {"kiosk": {"staff_pins": "k1:from-inventory"}}
    inventory = write_inventory(tmp_path, wheels, hub, [t1], ssh_user="admin", edge=pins)
    with TmpWatch(uid) as watch:
        probe = f"/tmp/shegong-probe-{uid}"  # the watch sees what this user leaves open in /tmp
        subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "touch", probe], check=True)
        time.sleep(0.2)
        os.unlink(probe)
        assert watch.open_to_others == [f"{probe} -rw-r--r--"]
        watch.open_to_others.clear()
        first = provision("apply", str(inventory))
    assert first.returncode == 0, first.stdout + first.stderr
    assert watch.open_to_others == [], "secrets were readable by other users on their way to the terminal"
    assert t1.run("stat -c '%a %U' /etc/shegong/edge.toml").stdout.split() == ["600", "shegong"]
    assert t1.run("ls -a /etc/shegong").stdout.split() == [".", "..", "broker-ca.crt", "edge.toml", "nftables.conf"]
    t1.run("sed -i 's/^staff_pins = .*/staff_pins = \"k1:reset-on-site\"/' /etc/shegong/edge.toml")
    check = provision("apply", str(inventory), "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert _lines(check.stdout) == {"JW001-K1": (1, 0)}
    assert '-staff_pins = "********"' in check.stdout.splitlines()
    assert '+staff_pins = "******** (changed)"' in check.stdout.splitlines()
    shown = check.stdout + check.stderr
    assert "reset-on-site" not in shown and "from-inventory" not in shown, "a diff never shows a secret"
