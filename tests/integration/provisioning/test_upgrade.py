"""``shegong provision upgrade``: a new release installed beside the old one, switched to, checked, and
rolled back by itself when the check fails.

A terminal (a real sshd in its own mount namespace) is provisioned with release A and a case waits in its
outbox. Release B is a new build of the project on the same dependencies (another VERSION-HASH). With a
health check that fails, upgrade installs B beside A, switches, finds it sick, and points ``current``
back at A, the database as it was: the host is reported failed, the case still queued. With the
built-in check (the new release, as the terminal's user with the installed configuration, opens the
database and reads its outbox), upgrade switches to B and keeps it, the queue intact.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.wheelhouse import PROJECT
from tests.integration.provisioning.conftest import as_unit, provision, unit_of, write_inventory
from tests.integration.provisioning.sshd import skip_reason
from tests.support import id_number

pytestmark = [pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())), pytest.mark.timeout(900)]


def _release_b(wheels: Path, out: Path) -> Path:
    out.mkdir()
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.startswith("shegong-"):
            shutil.copy(wheel, out)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out), str(PROJECT)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def test_a_sick_upgrade_rolls_back_and_a_healthy_one_stays(tmp_path: Path, wheels: Path, hub, terminals):
    (t1,) = terminals(1)
    edge = {"devices": {"reader": "", "printer": "", "scanner": ""}}
    inventory = write_inventory(tmp_path, wheels, hub, [t1], edge=edge)
    first = provision("apply", str(inventory))
    assert first.returncode == 0, first.stdout + first.stderr
    release_a = t1.run("readlink /opt/shegong/current").stdout.strip()
    unit = unit_of(t1, "shegong-edge.service")
    submit = f"/opt/shegong/current/bin/shegong edge submit --item MZ-001 --id-number {id_number()} --name 张三"
    assert subprocess.run(as_unit(t1, unit, submit), capture_output=True).returncode == 0
    outbox = "/opt/shegong/current/bin/shegong edge outbox"

    b = _release_b(wheels, tmp_path / "wheelhouse-b")
    sick = write_inventory(tmp_path, b, hub, [t1], edge=edge, health_check="false")
    failed = provision("upgrade", str(sick), "--timeout", "3")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "terminal=JW001-K1" in failed.stdout and "failed=1" in failed.stdout
    assert f"rolled back to {release_a}" in failed.stderr
    assert t1.run("readlink /opt/shegong/current").stdout.strip() == release_a
    releases = t1.run("ls /opt/shegong/releases").stdout.split()
    assert len(releases) == 2, "B was installed beside A"
    queued = subprocess.run(as_unit(t1, unit, outbox), capture_output=True, text=True)
    assert json.loads(queued.stdout)["depth"] == 1, "the queue as it was"

    healthy = write_inventory(tmp_path, b, hub, [t1], edge=edge)
    upgraded = provision("upgrade", str(healthy))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    release_b = t1.run("readlink /opt/shegong/current").stdout.strip()
    assert release_b != release_a and release_b.rsplit("/", 1)[-1] in releases
    queued = subprocess.run(as_unit(t1, unit, outbox), capture_output=True, text=True)
    assert json.loads(queued.stdout)["depth"] == 1, "the queue intact on the new release"
    assert t1.run("test -e /var/lib/shegong/edge.db.before-upgrade", check=False).returncode != 0
