"""``shegong provision upgrade``: a new release beside the old one, switched to, checked, rolled back if sick.

For each terminal: note the release in use and keep a copy of its database (SQLite's online backup, as
the terminal's user); ``apply`` installs the new release under ``/opt/shegong/releases/`` and points
``current`` at it (where systemd runs, the terminal restarts and migrates its database at start, the queue
intact); then the health check must pass within the time limit. If it does not, ``current`` points at the
old release again, the database copy is put back (the old code cannot read a schema migrated forward),
and the terminal restarts: it serves as before, and the host is reported failed with the reason.

The health check: where systemd runs, ``shegong-edge`` active; and on every terminal the new release,
as the terminal's user with the installed configuration, opens the database and reads its outbox
(``shegong edge outbox``). An inventory's ``health_check`` replaces the second part.
"""

from __future__ import annotations

import time

from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from provisioning import engine
from provisioning.inventory import Inventory as ShegongInventory
from provisioning.inventory import Terminal
from provisioning.retire import AS_TERMINAL
from provisioning.terminal import OPT, SYSTEMD_RUNNING, Release

__all__ = ["upgrade"]

DB = "/var/lib/shegong/edge.db"
BACKUP = "/var/lib/shegong/edge.db.before-upgrade"
_BACKUP_PY = f"\"import sqlite3; s = sqlite3.connect('{DB}'); d = sqlite3.connect('{BACKUP}'); s.backup(d); d.close()\""


def _session(terminals: list[Terminal]) -> State:
    state = State(Inventory(([(t.id, engine.host_data(t)) for t in terminals], {})), Config(PARALLEL=len(terminals)))
    connect_all(state)
    return state


def _run(host: Host, t: Terminal, command: str) -> tuple[bool, str]:
    ok, output = host.run_shell_command(StringCommand(command), _sudo=t.ssh_user != "root")
    return ok, (output.stdout + "\n" + output.stderr).strip()


def _healthy(host: Host, t: Terminal, timeout_s: float) -> tuple[bool, str]:
    check = t.health_check or f"{AS_TERMINAL} edge outbox"
    systemd = _run(host, t, SYSTEMD_RUNNING)[1] == "running"
    deadline = time.monotonic() + timeout_s
    why = ""
    while True:
        ok, why = _run(host, t, "systemctl is-active shegong-edge") if systemd else (True, "")
        if ok:
            ok, why = _run(host, t, check)
        if ok or time.monotonic() > deadline:
            return ok, why[-300:]
        time.sleep(2)


def upgrade(
    inventory: ShegongInventory, terminals: list[Terminal], release: Release, timeout_s: float = 120.0
) -> list[engine.HostResult]:
    """Upgrade ``terminals`` to ``release``; each that is not healthy within ``timeout_s`` is rolled back."""
    state = _session(terminals)
    before: dict[str, str] = {}
    try:
        for host in state.activated_hosts:
            t = next(t for t in terminals if t.id == host.name)
            ok, current = _run(host, t, f"readlink {OPT}/current")
            if ok and current:
                before[t.id] = current
                _run(host, t, f"test -e {DB} && runuser -u shegong -- {OPT}/current/bin/python -c {_BACKUP_PY}")
    finally:
        disconnect_all(state)
    results = engine.apply(inventory, terminals, release)
    state = _session([t for t in terminals if t.id in before])
    try:
        for host in state.activated_hosts:
            t = next(t for t in terminals if t.id == host.name)
            r = next(r for r in results if r.terminal == t.id)
            if r.failed:
                continue
            ok, why = _healthy(host, t, timeout_s)
            if ok:
                _run(host, t, f"rm -f {BACKUP}")
                continue
            old = before[t.id]
            restart = f"if {SYSTEMD_RUNNING} | grep -q running; then systemctl restart shegong-edge shegong-kiosk; fi"
            stop = f"if {SYSTEMD_RUNNING} | grep -q running; then systemctl stop shegong-edge; fi"
            restore = f"if [ -e {BACKUP} ]; then mv -f {BACKUP} {DB} && rm -f {DB}-wal {DB}-shm; fi"
            back, _ = _run(host, t, f"{stop}; ln -sfn {old} {OPT}/current.new && mv -T {OPT}/current.new {OPT}/current")
            back = back and _run(host, t, f"{restore}; {restart}")[0]
            r.failed += 1
            r.notes.append(
                f"not healthy within {timeout_s:.0f} s ({why or 'no answer'}): "
                + (f"rolled back to {old}" if back else f"ROLLBACK to {old} FAILED: see the terminal")
            )
    finally:
        disconnect_all(state)
    return results
