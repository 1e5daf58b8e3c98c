"""A terminal is issued a broker user only when the inventory gives it the hub's own public keys.

The hub here is this machine (``[hub] host = "@local"``), with its case key and the audit key beside it,
asked through the same session provisioning uses. An inventory still holding another hub's public halves
(a hub set up again, an inventory copied from another subdistrict) would provision a terminal that seals
every case to a key nobody here holds and refuses the hub's signed anchors: it is refused before anything
is issued, naming the two values to set, and a right one is issued as before.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nacl.public
import pytest

from harness.broker import free_port
from provisioning import inventory as inventories
from provisioning.errors import ProvisioningError
from provisioning.hubside import hub_session
from tests.integration.provisioning.conftest import SHEGONG, write_inventory
from tests.support import CASE_PUBLIC_KEY, audit_public_key


def _terminal_inventory(tmp_path: Path, hub: dict[str, str]) -> Path:
    host = SimpleNamespace(address="127.0.0.1", port=free_port(), admin_network="127.0.0.0/8", netns=False)
    (tmp_path / "wheels").mkdir()
    return write_inventory(tmp_path, tmp_path / "wheels", hub, [host])  # type: ignore[list-item]


def test_a_terminal_given_another_hubs_public_keys_is_issued_nothing(tmp_path: Path, hub: dict[str, str]) -> None:
    path = _terminal_inventory(tmp_path, hub)
    other = nacl.public.PrivateKey.generate().public_key.encode().hex()  # any other key, as hex text
    right = path.read_text()
    assert f'hub_public_key = "{CASE_PUBLIC_KEY}"' in right
    path.write_text(re.sub(r'(?m)^hub_audit_public_key = ".*"$', f'hub_audit_public_key = "{other}"', right))
    wrong = inventories.load(path)
    [t] = wrong.terminals
    passwd = Path(hub["broker_dir"], "passwd")
    with hub_session(wrong.hub, str(tmp_path / "known_hosts")) as session, pytest.raises(ProvisioningError) as refused:
        session.issue(t)
    audit = audit_public_key(Path(hub["SHEGONG_HUB_CASE_KEY_FILE"]))
    assert f'set hub_public_key = "{CASE_PUBLIC_KEY}" and hub_audit_public_key = "{audit}"' in str(refused.value)
    assert "nothing was issued" in str(refused.value)
    assert not passwd.exists() or f"{t.id}:" not in passwd.read_text(), "no broker user made"

    path.write_text(right)
    [t] = inventories.load(path).terminals
    with hub_session(inventories.load(path).hub, str(tmp_path / "known_hosts")) as session:
        password = session.issue(t)
    assert password and f"{t.id}:" in passwd.read_text()
    env = {k: v for k, v in hub.items() if k.startswith("SHEGONG_")}
    listed = subprocess.run([SHEGONG, "hub", "terminal", "list"], env=env, capture_output=True, text=True, check=True)
    assert t.id in listed.stdout, "issued and registered, as before"
