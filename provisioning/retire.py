"""``shegong provision retire``: take terminals out of service without losing a resident's case.

A terminal whose outbox still holds undelivered items is refused, unless forced; forced, its database
(the outbox's cases are sealed to the hub's key) is first copied to the administrator's machine, for
later delivery (0600, in a 0700 folder: it holds receipts, query codes and holder keys). Then the hub
revokes its broker user, takes it out of the terminal register (ingest takes nothing more from it) and
marks it retired on the fleet dashboard (no more alerts for it), the broker reloads, and on the terminal
the services are stopped and disabled and its data, configuration and boot-time firewall rules removed
(Debian's own /etc/nftables.conf applies again from the next boot).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from provisioning.engine import HostResult, host_data
from provisioning.hubside import hub_session
from provisioning.inventory import Inventory as ShegongInventory
from provisioning.inventory import Terminal
from provisioning.terminal import ENABLED_UNITS, NFT_BOOT, OPT, SYSTEMD_RUNNING

__all__ = ["retire"]

CHECKPOINT = (
    "\"import sqlite3; sqlite3.connect('/var/lib/shegong/edge.db').execute('PRAGMA wal_checkpoint(TRUNCATE)')\""
)
AS_TERMINAL = (
    "runuser -u shegong -- env SHEGONG_EDGE_CONFIG=/etc/shegong/edge.toml SHEGONG_DATA_DIR=/var/lib/shegong "
    f"{OPT}/current/bin/shegong"
)


def _run(host: Host, t: Terminal, command: str) -> tuple[bool, str, str]:
    ok, output = host.run_shell_command(StringCommand(command), _sudo=t.ssh_user != "root")
    return ok, output.stdout, output.stderr


def _outbox_depth(host: Host, t: Terminal) -> int:
    """Items the terminal has not delivered (0 when it has no database)."""
    ok, _, _ = _run(host, t, "test -e /var/lib/shegong/edge.db")
    if not ok:
        return 0
    ok, out, err = _run(host, t, f"{AS_TERMINAL} edge outbox")
    if not ok:
        raise RuntimeError(f"cannot read the outbox: {err.strip()[-300:]}")
    stats = json.loads(out.strip().splitlines()[-1])
    return int(stats["depth"]) + int(stats["parked"])


def retire(
    inventory: ShegongInventory, terminals: list[Terminal], force: bool = False, keep: Path | None = None
) -> list[HostResult]:
    """Retire ``terminals``; with ``force``, those with undelivered items too, their database copied to
    ``keep`` (default: ``retired/`` beside the inventory) first."""
    keep = keep or inventory.path.resolve().parent / "retired"
    results = {t.id: HostResult(t.id, t.host if t.ssh_port == 22 else f"{t.host}:{t.ssh_port}") for t in terminals}
    by_id = {t.id: t for t in terminals}
    state = State(Inventory(([(t.id, host_data(t)) for t in terminals], {})), Config(PARALLEL=len(terminals)))
    with contextlib.suppress(PyinfraError):
        connect_all(state)
    hosts = {h.name: h for h in state.activated_hosts if h not in state.failed_hosts}
    try:
        ready: list[str] = []
        for tid, r in results.items():
            if tid not in hosts:
                r.failed, r.notes = 1, ["no SSH connection"]
                continue
            host, t = hosts[tid], by_id[tid]
            try:
                depth = _outbox_depth(host, t)
            except RuntimeError as exc:
                r.failed, r.notes = 1, [str(exc)]
                continue
            if depth and not force:
                r.failed = 1
                r.notes.append(
                    f"its outbox holds {depth} undelivered item(s): not retired. Let it deliver them (check the "
                    "link to the broker), or --force to copy its sealed outbox here first and retire it anyway"
                )
                continue
            if depth:
                # A terminal's database holds personal data: 0600 in a 0700 folder, from its first byte.
                keep.mkdir(mode=0o700, parents=True, exist_ok=True)
                keep.chmod(0o700)
                copy = keep / f"{tid}-edge.db"
                # Stopped, and its write-ahead log folded in: the one file copied holds every item.
                _run(host, t, f"if {SYSTEMD_RUNNING} | grep -q running; then systemctl stop shegong-edge; fi")
                _run(host, t, f"runuser -u shegong -- {OPT}/current/bin/python -c {CHECKPOINT}")
                fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)  # one there before keeps its mode through O_CREAT
                with os.fdopen(fd, "wb") as into:
                    got = host.get_file("/var/lib/shegong/edge.db", into)
                if not got:
                    r.failed, r.notes = 1, ["could not copy its outbox here: not retired"]
                    continue
                r.notes.append(f"{depth} undelivered item(s) kept in {copy} for later delivery")
            ready.append(tid)
        if ready:
            with hub_session(inventory.hub, str(by_id[ready[0]].known_hosts.expanduser())) as hub:
                for tid in ready:
                    hub.revoke(by_id[tid])
                    hub.retire(by_id[tid])
                hub.reload_broker()
        for tid in ready:
            host, t, r = hosts[tid], by_id[tid], results[tid]
            ok, out, _ = _run(host, t, SYSTEMD_RUNNING)
            now = "--now " if out.strip() == "running" else ""
            units = " ".join(ENABLED_UNITS)
            ok, _, err = _run(
                host, t, f"systemctl disable {now}{units} && rm -rf /var/lib/shegong /etc/shegong {NFT_BOOT}"
            )
            if not ok:
                r.failed, r.notes = 1, [*r.notes, f"stopping and removing failed: {err.strip()[-300:]}"]
            else:
                r.changed = 1
    finally:
        disconnect_all(state)
    return [results[t.id] for t in terminals]
