"""The firewall's rules loaded by ``shegong provision apply``, and put back when they would lock the
administrator out.

The terminal here has a network namespace of its own (``Sshd(network=True)``), joined to this machine by
a veth pair, so the rules filter its traffic only. Apply writes the rules, checks them with nft, loads
them and opens a second SSH connection, which gets in (SSH is allowed from the administrators' network,
the pair's) and confirms them. A port the rules do not open is dropped: a listener inside the terminal
cannot be reached. A second apply changes nothing. An inventory whose administrators' network is
elsewhere would lock the administrator out: the second connection is dropped, the new rules are never
confirmed, so the rules from before come back by themselves (a dead man's switch: the first connection
may be cut off too), the host is reported failed, and the administrator still gets in.
"""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest

from harness.broker import free_port
from tests.integration.provisioning.conftest import provision, write_inventory
from tests.integration.provisioning.sshd import skip_reason
from tests.support import wait_for

pytestmark = [
    pytest.mark.skipif(bool(skip_reason()), reason=str(skip_reason())),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft missing (scripts/system-deps.sh installs nftables)"),
    pytest.mark.timeout(600),
    # Slow (80 s on 2 cores, with a minute's dead man's switch run out): `make test-slow`, so `make test` stays
    # well under its 15 minutes; the rules' syntax is checked (nft -c) by every terminal apply in `make test`.
    pytest.mark.slow,
]


def _reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=3).close()
        return True
    except OSError:
        return False


def test_rules_are_loaded_and_rules_that_lock_the_administrator_out_are_put_back(
    tmp_path: Path, wheels: Path, hub, terminals
):
    (t1,) = terminals(1, network=True)
    inventory = write_inventory(tmp_path, wheels, hub, [t1], firewall_rollback_s=10)
    assert 'firewall = "load"' in inventory.read_text()
    port = free_port()
    listener = t1.run(f"python3 -m http.server {port} --bind {t1.address} >/dev/null 2>&1 & echo $!").stdout.strip()
    wait_for(lambda: _reachable(t1.address, port), timeout=30, what="the listener, before the rules")

    first = provision("apply", str(inventory))
    assert first.returncode == 0, first.stdout + first.stderr
    ruleset = t1.run("nft list ruleset").stdout
    assert "table inet shegong" in ruleset and "policy drop" in ruleset
    assert re.search(rf"ip saddr {re.escape(t1.admin_network)} tcp dport {t1.port} accept", ruleset), ruleset
    assert not _reachable(t1.address, port), "a port the rules do not open is dropped"
    assert t1.run("systemctl is-enabled nftables.service").stdout.strip() == "enabled", "loaded again at boot"
    assert "/etc/shegong/nftables.conf" in t1.run("cat /etc/systemd/system/nftables.service.d/60-shegong.conf").stdout

    second = provision("apply", str(inventory))  # its own new connections get in through the rules
    assert second.returncode == 0, second.stdout + second.stderr
    assert "terminal=JW001-K1 changed=0 failed=0" in second.stdout

    elsewhere = inventory.read_text().replace(
        f'admin_networks = ["{t1.admin_network}"]', 'admin_networks = ["203.0.113.0/24"]'
    )
    inventory.write_text(elsewhere)
    locked = provision("apply", str(inventory))
    assert locked.returncode == 1, locked.stdout + locked.stderr
    assert re.search(r"terminal=JW001-K1 changed=\d+ failed=1", locked.stdout)
    assert "a second SSH connection was refused with the firewall's new rules" in locked.stderr
    assert "the rules from before came back by themselves after 10 s" in locked.stderr
    ruleset = t1.run("nft list ruleset").stdout
    assert t1.admin_network in ruleset and "203.0.113.0/24" not in ruleset, "the rules from before are loaded"
    again = provision("apply", str(inventory), "--check")
    assert again.returncode == 0, "the administrator still gets in: " + again.stderr
    t1.run(f"kill {listener}", check=False)
