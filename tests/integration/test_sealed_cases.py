"""DESIGN §6: a stolen terminal leaks nothing it has queued; only the hub's key opens a case.

Cases are accepted with the VPN down and the terminal's database files (main, WAL, shared memory) are
searched byte by byte for the residents' ID numbers, names and phone numbers: none may be there, in any
encoding SQLite could hold them. The same cases then reach the hub whole. A terminal without the hub's
key refuses to accept (and `shegong edge run` refuses to start); a hub without its key refuses to start,
and `shegong hub keys` makes one once and never overwrites it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.store.cases import NewCase, NoHubKey
from hub import casekey
from tests.support import CASE_PUBLIC_KEY, applicant, assert_exactly_once, hub_count, wait_for

pytestmark = pytest.mark.timeout(120)


def _files_of(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def test_a_stolen_terminal_holds_no_readable_resident_data_and_the_hub_gets_every_case(
    hub_factory, edge_factory, proxy, tmp_path
):
    edge = edge_factory(port=proxy.port)
    proxy.cut()  # the VPN is down: everything stays queued on the device
    edge.start_sync()
    people = [applicant(n) for n in range(20)]
    ids = []
    for n, person in enumerate(people):
        case = edge.cases.submit(NewCase(item_code="JB-001", applicant=person, form={"phone": f"1390000{n:04d}"}))
        ids.append(str(case.case_id))
    assert edge.outbox.stats().depth == 20

    disk = _files_of(tmp_path / "edge-T1")
    for n, person in enumerate(people):
        for secret in (person.id_number, person.name, f"1390000{n:04d}"):
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                assert secret.encode(encoding) not in disk, f"{secret[:3]}… readable on the device ({encoding})"

    hub = hub_factory()
    proxy.restore()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="the queued cases acked")
    assert_exactly_once(hub.engine, ids)
    assert hub_count(hub.engine, "SELECT count(*) FROM cases WHERE id_number = :n", n=people[3].id_number) == 1


def test_without_the_hubs_public_key_a_terminal_accepts_nothing(edge_factory):
    edge = edge_factory(hub_public_key="")
    with pytest.raises(NoHubKey, match="中心公钥"):
        edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    assert edge.outbox.stats().depth == 0
    bad = edge_factory(terminal_id="T2", hub_public_key="c2hvcnQ=")
    with pytest.raises(NoHubKey, match="配置有误"):
        bad.cases.submit(NewCase(item_code="JB-001", applicant=applicant(2)))


def _shegong(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shegong.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_hub_keys_are_made_once_and_a_hub_or_terminal_without_a_key_does_not_start(tmp_path):
    key = tmp_path / "keys" / "hub-case.key"
    env = {
        **os.environ,
        "SHEGONG_HUB_CASE_KEY_FILE": str(key),
        "SHEGONG_HUB_DATABASE_URL": f"sqlite:///{tmp_path}/h.db",
    }
    made = _shegong("hub", "keys", "init", env=env)
    assert made.returncode == 0, made.stderr
    public = made.stdout.strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert _shegong("hub", "keys", "public", env=env).stdout.strip() == public
    again = _shegong("hub", "keys", "init", env=env)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert _shegong("hub", "keys", "public", env=env).stdout.strip() == public  # the old key is untouched

    key.chmod(0o644)
    with pytest.raises(casekey.CaseKeyError, match="chmod 600"):
        casekey.load(key)
    missing = _shegong("hub", "run", env={**env, "SHEGONG_HUB_CASE_KEY_FILE": str(tmp_path / "none.key")})
    assert missing.returncode == 2 and "shegong hub keys init" in missing.stderr

    edge_env = {**os.environ, "SHEGONG_HUB_PUBLIC_KEY": "", "SHEGONG_DATA_DIR": str(tmp_path / "edge")}
    edge = _shegong("edge", "run", "--no-kiosk", env=edge_env)
    assert edge.returncode == 2 and "hub_public_key" in edge.stderr
    assert CASE_PUBLIC_KEY  # the other tests' terminals are given the test process's key by conftest
