"""``shegong provision upgrade``: a new release installed beside the old one, switched to, checked, and
rolled back by itself when the check fails — the database put back only when the new release migrated it.

A terminal (a real sshd in its own mount namespace) runs release A (this checkout) and a case waits in its
outbox. Two new versions are built from copies of this checkout, as a developer would release them:
B (version 0.1.1) with the same schema, and C (0.1.2) with one more edge migration (its schema
head moves on). The health check given in the inventory first submits a case with the new release, as a
resident would while the terminal serves on it, then fails:

- to B while the database cannot be copied: not upgraded at all (no copy, no way back), the queue untouched;
  then, with the copy made (0600, the terminal's user's alone), B's check:
- to B: rolled back to A, and the database is *not* put back (the schema did not change), so the case
  accepted on B between the backup and the rollback is still queued;
- to C: C migrated the database on opening it; rolled back to A, the copy from before the upgrade is put
  back (A cannot open C's schema), and what C held is kept beside it (``edge.db.after-failed-upgrade``);
- to C with the built-in check (the new release, as the terminal's user with the installed
  configuration, opens the database and reads its outbox): C stays, the queue intact, the schema at C's head.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioning.retire import AS_TERMINAL
from provisioning.upgrade import AFTER, BACKUP, REVISION
from provisioning.wheelhouse import PROJECT
from tests.integration.provisioning.conftest import as_unit, project_wheel, provision, unit_of, write_inventory
from tests.integration.provisioning.sshd import Sshd, skip_reason
from tests.support import id_number

pytestmark = [pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())), pytest.mark.timeout(900)]

# What .gitignore keeps out of the project, as `make demo` and the tests leave it (var/ holds live sockets)
_IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", ".*_cache", "node_modules", "var", "artifacts"
)
EXTRA_REVISION = "e9999t"


def _edge_head(project: Path) -> str:
    found = re.search(r'^HEAD = "(\w+)"$', (project / "edge/store/db.py").read_text(), re.M)
    assert found, "edge/store/db.py names its schema head"
    return found.group(1)


def _release(wheels: Path, out: Path, version: str, migration: bool) -> Path:
    """A wheelhouse of this checkout at ``version`` (and, with ``migration``, one more edge migration)."""
    src = out.with_name(out.name + "-src")
    shutil.copytree(PROJECT, src, ignore=_IGNORED)
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"', 1))
    if migration:
        head = _edge_head(src)
        (src / "edge/store/migrations/versions" / f"{EXTRA_REVISION}_upgrade_test.py").write_text(
            f'"""A new table, so this version\'s schema is ahead of the last one\'s."""\n\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f'revision = "{EXTRA_REVISION}"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n\n'
            "def upgrade() -> None:\n"
            '    op.create_table("upgrade_test", sa.Column("id", sa.Integer, primary_key=True))\n'
        )
        db = src / "edge/store/db.py"
        db.write_text(db.read_text().replace(f'HEAD = "{head}"', f'HEAD = "{EXTRA_REVISION}"'))
    out.mkdir()
    for wheel in wheels.glob("*.whl"):
        if not wheel.name.startswith("shegong-"):
            shutil.copy(wheel, out)
    return project_wheel(src, out)


def _depth(t1: Sshd, unit: dict[str, list[str]]) -> int:
    done = subprocess.run(as_unit(t1, unit, "/opt/shegong/current/bin/shegong edge outbox"), capture_output=True)
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["depth"])


NO_DEVICES = {"devices": {"reader": "", "printer": "", "scanner": ""}}


def _applied_with_a_case(tmp_path: Path, wheels: Path, hub, terminals) -> tuple[Sshd, str, dict[str, list[str]], str]:
    """One terminal provisioned (no devices) holding one queued case: the terminal, its release, its service
    unit and the ``shegong`` arguments that submitted the case."""
    (t1,) = terminals(1)
    first = provision("apply", str(write_inventory(tmp_path, wheels, hub, [t1], edge=NO_DEVICES)))
    assert first.returncode == 0, first.stdout + first.stderr
    unit = unit_of(t1, "shegong-edge.service")
    submit = f"edge submit --item MZ-001 --id-number {id_number()} --name 张三"
    assert subprocess.run(as_unit(t1, unit, f"/opt/shegong/current/bin/shegong {submit}")).returncode == 0
    return t1, t1.run("readlink /opt/shegong/current").stdout.strip(), unit, submit


def test_rollback_restores_the_database_only_when_the_schema_was_migrated(tmp_path: Path, wheels: Path, hub, terminals):
    t1, release_a, unit, submit = _applied_with_a_case(tmp_path, wheels, hub, terminals)
    head_a = _edge_head(PROJECT)
    assert t1.run(REVISION).stdout.strip() == head_a
    b = _release(wheels, tmp_path / "wheelhouse-b", "0.1.1", migration=False)

    # No copy of the database, no way back from a migrated schema: the terminal is left as it is, failed.
    t1.run(f"mkdir {BACKUP}")  # root's: the terminal's user cannot write the copy
    refused = provision("upgrade", str(write_inventory(tmp_path, b, hub, [t1], edge=NO_DEVICES)))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "terminal=JW001-K1 changed=0 failed=1" in refused.stdout
    assert "JW001-K1: its database could not be copied (" in refused.stderr
    assert "): not upgraded" in refused.stderr
    assert t1.run("readlink /opt/shegong/current").stdout.strip() == release_a
    assert _depth(t1, unit) == 1, "the queue untouched"
    t1.run(f"rmdir {BACKUP}")

    # The copy holds residents' cases: 0600 like the database, whatever the SSH session's umask (checked while
    # it is there, before the sick check serves a case: a queue of two below shows the check got that far).
    copy_is_private = f"test \"$(stat -c '%a %U' {BACKUP})\" = '600 shegong'"
    serve_then_fail = f"{AS_TERMINAL} {submit.replace('张三', '李四')} && false"
    sick_b = write_inventory(
        tmp_path, b, hub, [t1], edge=NO_DEVICES, health_check=f"{copy_is_private} && {serve_then_fail}"
    )
    to_b = provision("upgrade", str(sick_b), "--timeout", "0")  # checked once: one case accepted on B
    assert to_b.returncode == 1, to_b.stdout + to_b.stderr
    assert "terminal=JW001-K1" in to_b.stdout and "failed=1" in to_b.stdout
    assert f"rolled back to {release_a}, the database kept as it is (the schema was not migrated)" in to_b.stderr
    assert t1.run("readlink /opt/shegong/current").stdout.strip() == release_a
    assert sorted(t1.run("ls /opt/shegong/releases").stdout.split())[0].startswith("0.1.0-")
    assert any(r.startswith("0.1.1-") for r in t1.run("ls /opt/shegong/releases").stdout.split()), "B beside A"
    assert _depth(t1, unit) == 2, "the case B accepted before the rollback is still queued"
    assert t1.run("ls /var/lib/shegong").stdout.split().count("edge.db.before-upgrade") == 0

    c = _release(wheels, tmp_path / "wheelhouse-c", "0.1.2", migration=True)
    sick_c = write_inventory(tmp_path, c, hub, [t1], edge=NO_DEVICES, health_check=serve_then_fail)
    to_c = provision("upgrade", str(sick_c), "--timeout", "0")
    assert to_c.returncode == 1, to_c.stdout + to_c.stderr
    assert f"rolled back to {release_a}, the database put back as it was before the upgrade" in to_c.stderr
    assert f"migrated its schema from {head_a} to {EXTRA_REVISION}" in to_c.stderr
    assert t1.run("readlink /opt/shegong/current").stdout.strip() == release_a
    assert t1.run(REVISION).stdout.strip() == head_a, "A's schema again: A opens it"
    assert _depth(t1, unit) == 2, "the queue as it was before the upgrade"
    count = f"sqlite3.connect('{AFTER}').execute('SELECT count(*) FROM outbox').fetchone()[0]"
    kept = t1.run(f'python3 -c "import sqlite3; print({count})"')
    assert kept.stdout.strip() == "3", "what C accepted is kept beside, not thrown away"

    upgraded = provision("upgrade", str(write_inventory(tmp_path, c, hub, [t1], edge=NO_DEVICES)))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert re.fullmatch(
        r"/opt/shegong/releases/0\.1\.2-[0-9a-f]{8}", t1.run("readlink /opt/shegong/current").stdout.strip()
    )
    assert _depth(t1, unit) == 2, "the queue intact on the new release"
    assert t1.run(REVISION).stdout.strip() == EXTRA_REVISION
    assert t1.run("test -e /var/lib/shegong/edge.db.before-upgrade", check=False).returncode != 0
