"""``shegong provision upgrade``: a new release beside the old one, switched to, checked, rolled back if sick.

For each terminal: note the release in use and keep a copy of its database (SQLite's online backup, as
the terminal's user; a terminal whose copy fails is not upgraded: it could not be rolled back); ``apply``
installs the new release under ``/opt/shegong/releases/`` and points ``current`` at it (where systemd
runs, the terminal restarts and migrates its database at start, the queue intact); then the health check
must pass within the time limit. If it does not, ``current`` points at the old release again and the
terminal restarts: it serves as before, and the host is reported failed with the reason.

The database copy is put back only when the new release migrated the schema (its Alembic revision, read
before the upgrade and again at rollback, differs): the old code cannot read a schema migrated forward.
When the schema did not change, the database stays as it is — cases accepted between the copy and the
rollback are in it, and putting the copy back would lose them. A database that is replaced is not
removed: it is kept beside as ``edge.db.after-failed-upgrade`` (what the new release accepted is there).

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
from provisioning.retire import AS_TERMINAL, DB, online_backup
from provisioning.terminal import OPT, SYSTEMD_RUNNING, Release

__all__ = ["upgrade"]

BACKUP = "/var/lib/shegong/edge.db.before-upgrade"
AFTER = "/var/lib/shegong/edge.db.after-failed-upgrade"
# umask 077 whatever the SSH session's: the copy holds what the database holds (0600, as the terminal makes it)
COPY = (
    f"if [ -e {DB} ]; then umask 077; runuser -u shegong -- {OPT}/current/bin/python -c {online_backup(DB, BACKUP)}; fi"
)
# The schema's Alembic revision(s), read only (nothing printed when there is no database or no revision).
_REVISION_PY = (
    f"\"import sqlite3; c = sqlite3.connect('file:{DB}?mode=ro', uri=True); "
    "print(','.join(sorted(r[0] for r in c.execute('SELECT version_num FROM alembic_version'))))\""
)
REVISION = f"test -e {DB} && runuser -u shegong -- /usr/bin/python3 -c {_REVISION_PY} 2>/dev/null || true"


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
    clock = engine.Clock()
    state = _session(terminals)
    before: dict[str, str] = {}
    schema: dict[str, str] = {}
    refused: dict[str, engine.HostResult] = {}
    try:
        for host in state.activated_hosts:
            t = next(t for t in terminals if t.id == host.name)
            with clock.step(t.id, "release in use noted, database copied"):
                ok, current = _run(host, t, f"readlink {OPT}/current")
                if ok and current:
                    before[t.id] = current
                    schema[t.id] = _run(host, t, REVISION)[1]
                    # No copy, no rollback of a migrated schema: such a terminal is not upgraded.
                    ok, why = _run(host, t, COPY)
                    if not ok:
                        address = t.host if t.ssh_port == 22 else f"{t.host}:{t.ssh_port}"
                        said = f"its database could not be copied ({why[-300:] or 'no answer'}): not upgraded"
                        refused[t.id] = engine.HostResult(t.id, address, failed=1, notes=[said])
                        del before[t.id]
    finally:
        disconnect_all(state)
    rest = [t for t in terminals if t.id not in refused]
    applied = engine.apply(inventory, rest, release) if rest else []
    results = [refused.get(t.id) or next(r for r in applied if r.terminal == t.id) for t in terminals]
    for r in results:
        r.seconds = clock.seconds.pop(r.terminal, []) + r.seconds
    if not before:  # none to check (pyinfra has no session without a host)
        return results
    state = _session([t for t in terminals if t.id in before])
    try:
        for host in state.activated_hosts:
            t = next(t for t in terminals if t.id == host.name)
            r = next(r for r in results if r.terminal == t.id)
            if r.failed:
                continue
            with clock.step(t.id, "health check"):
                ok, why = _healthy(host, t, timeout_s)
            if ok:
                _run(host, t, f"rm -f {BACKUP}")
            else:
                r.failed += 1
                r.notes.append(f"not healthy within {timeout_s:.0f} s ({why or 'no answer'})")
                with clock.step(t.id, "rolled back"):
                    r.notes.append(_roll_back(host, t, before[t.id], schema.get(t.id, "")))
            r.seconds += clock.seconds.pop(t.id, [])
    finally:
        disconnect_all(state)
    return results


def _roll_back(host: Host, t: Terminal, old: str, revision_before: str) -> str:
    """``current`` back to ``old``; the database copy put back only if the schema was migrated since it
    was taken. Returns what was done, in words."""
    restart = f"if {SYSTEMD_RUNNING} | grep -q running; then systemctl restart shegong-edge shegong-kiosk; fi"
    stop = f"if {SYSTEMD_RUNNING} | grep -q running; then systemctl stop shegong-edge; fi"
    switch = f"{stop}; ln -sfn {old} {OPT}/current.new && mv -T {OPT}/current.new {OPT}/current"
    if not _run(host, t, switch)[0]:
        return f"ROLLBACK to {old} FAILED: see the terminal"
    revision_now = _run(host, t, REVISION)[1]
    if revision_now == revision_before:
        done = _run(host, t, f"rm -f {BACKUP}; {restart}")[0]
        said = "the database kept as it is (the schema was not migrated)"
    else:
        restore = (
            f"set -e; if [ -e {BACKUP} ]; then rm -f {DB}-shm; mv -f {DB} {AFTER}; "
            f"if [ -e {DB}-wal ]; then mv -f {DB}-wal {AFTER}-wal; fi; mv -f {BACKUP} {DB}; fi"
        )
        done = _run(host, t, f"{restore}; {restart}")[0]
        said = (
            f"the database put back as it was before the upgrade (the new release had migrated its schema "
            f"from {revision_before or 'none'} to {revision_now or 'none'}); what it held since is kept in {AFTER}"
        )
    return f"rolled back to {old}, {said}" if done else f"ROLLBACK to {old} FAILED after switching: see the terminal"
