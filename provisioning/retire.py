"""``shegong provision retire``: take terminals out of service without losing a resident's case.

A terminal whose outbox still holds undelivered items is refused, unless forced; forced, its database
(the outbox's cases are sealed to the hub's key) is first copied to the administrator's machine, for
later delivery (0600, in a 0700 folder: it holds receipts, query codes and holder keys). The copy is
SQLite's online backup, made by root with the terminal's service stopped (nothing accepted after it) into
a 0700 folder of the SSH user's under a random name, fetched from there and removed, whoever the SSH user
is. What can be checked first is (the hub reached, the folder here, the folder there, room on both), so a
copy that cannot be made leaves the terminal serving; one that fails after the stop, or a hub failing to
revoke it after it, starts the service again. Then the hub revokes its broker user, takes it out of the
terminal register (ingest takes nothing more from it) and marks it retired on the fleet dashboard (no more
alerts for it), a terminal at a time, the broker reloads once, and on each terminal revoked (one whose
register entry or the reload failed too, with the command that finishes it on the hub: revoked, it could
deliver nothing more) the services are stopped and disabled and its data,
configuration and boot-time firewall rules removed (Debian's own /etc/nftables.conf applies again from
the next boot).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
from pathlib import Path

from paramiko import SSHException
from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from provisioning.engine import HostResult, host_data
from provisioning.errors import ProvisioningError
from provisioning.hubside import HubSession, hub_session
from provisioning.inventory import Inventory as ShegongInventory
from provisioning.inventory import Terminal
from provisioning.terminal import ENABLED_UNITS, NFT_BOOT, OPT, SYSTEM_PYTHON, SYSTEMD_RUNNING, private_folder

__all__ = ["AS_TERMINAL", "DB", "online_backup", "retire"]

DB = "/var/lib/shegong/edge.db"
# Where systemd runs and the terminal's service is active: stopped, and said so (to start it again on failure).
STOP = (
    "if [ -d /run/systemd/system ] && systemctl is-active --quiet shegong-edge; then "
    "systemctl stop shegong-edge && echo stopped; fi"
)
AS_TERMINAL = (
    "runuser -u shegong -- env SHEGONG_EDGE_CONFIG=/etc/shegong/edge.toml SHEGONG_DATA_DIR=/var/lib/shegong "
    f"{OPT}/current/bin/shegong"
)


def online_backup(source: str, dest: str) -> str:
    """A ``python -c`` argument: SQLite's online backup of ``source`` into ``dest``, one consistent state of
    it (its write-ahead log included) whatever writes meanwhile."""
    return (
        f"\"import sqlite3; s = sqlite3.connect('{source}'); d = sqlite3.connect('{dest}'); "
        's.backup(d); d.close(); s.close()"'
    )


def _run(host: Host, t: Terminal, command: str) -> tuple[bool, str, str]:
    ok, output = host.run_shell_command(StringCommand(command), _sudo=t.ssh_user != "root")
    return ok, output.stdout, output.stderr


def _outbox_depth(host: Host, t: Terminal) -> int:
    """Items the terminal has not delivered (0 when it has no database)."""
    ok, _, _ = _run(host, t, f"test -e {DB}")
    if not ok:
        return 0
    ok, out, err = _run(host, t, f"{AS_TERMINAL} edge outbox")
    if not ok:
        raise RuntimeError(f"cannot read the outbox: {err.strip()[-300:]}")
    stats = json.loads(out.strip().splitlines()[-1])
    return int(stats["depth"]) + int(stats["parked"])


def _keep(host: Host, t: Terminal, copy: Path) -> tuple[str | None, bool]:
    """The terminal's database copied to ``copy`` (0600 in a 0700 folder, from its first byte), its service
    stopped: (None, whether this stopped it) when done, else (why not, False) — the terminal serving as
    before.

    Never read by SFTP where it lies: the SSH user (an administrator with sudo) may not read the service
    user's 0600 file, and pyinfra's download with sudo would copy it, readable by all, to
    ``/tmp/pyinfra-<hash of the path>``. Root makes the copy in a 0700 folder of the SSH user's (random
    name; ``mkdir`` refuses anything already there, as for the release's tar), gives it to that user, and
    the folder is removed however the fetch ends."""
    part = copy.with_name(f"{copy.name}.part")  # the copy's name only once whole
    try:
        copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        copy.parent.chmod(0o700)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        return f"its outbox cannot be kept in {copy.parent}: {exc.strerror or exc}", False
    private = private_folder(host)
    fetched = f"{private}/edge.db"
    stopped = False
    try:
        with os.fdopen(fd, "wb") as into:
            os.fchmod(into.fileno(), 0o600)  # one there before keeps its mode through O_CREAT
            ok, output = host.run_shell_command(StringCommand(f"mkdir -m 700 {private}"), _sudo=False)
            if not ok:
                return f"no private folder for the copy on the terminal ({output.stderr.strip()[-300:]})", False
            room = (
                f"set -e; n=$(stat -c %s {DB}); if [ -e {DB}-wal ]; then n=$((n + $(stat -c %s {DB}-wal))); fi; "
                f"echo $n $(df -P -B1 {private} | awk 'NR == 2 {{print $4}}')"
            )
            ok, out, err = _run(host, t, room)
            if not ok:
                return f"its database cannot be looked at ({err.strip()[-300:]})", False
            try:
                need, there = (int(n) for n in out.split()[-2:])
            except ValueError:
                return f"its database cannot be looked at ({(out + err).strip()[-300:]})", False
            if there <= need:
                return (
                    f"no room on the terminal for a copy of its database ({need} bytes, {there} free in {private})",
                    False,
                )
            if shutil.disk_usage(copy.parent).free <= need:
                return f"no room here for a copy of its database ({need} bytes) in {copy.parent}", False
            ok, out, err = _run(host, t, STOP)
            stopped = "stopped" in out
            if not ok:
                stopped = True  # whatever it did, started again below
                return f"its service could not be stopped ({err.strip()[-300:]})", False
            owner = shlex.quote(f"{t.ssh_user}:")
            backup = f"set -e; umask 077; {SYSTEM_PYTHON} -c {online_backup(DB, fetched)}; chown {owner} {fetched}"
            ok, _, err = _run(host, t, backup)
            if not ok:
                return f"its database could not be copied ({err.strip()[-300:]})", False
            try:
                got = host.get_file(fetched, into)
            except (OSError, SSHException) as exc:
                return f"its database could not be fetched ({exc})", False
            if not got:
                return "its database could not be fetched", False
        os.replace(part, copy)
        done, stopped = stopped, False  # retired next: it stays stopped
        return None, done
    finally:
        with contextlib.suppress(OSError):
            part.unlink()
        # as root: a failed backup may have left a file of root's in it
        _run(host, t, f"rm -rf {private}")
        if stopped:
            _run(host, t, "systemctl start shegong-edge")


def _at_hub(
    hub: HubSession | None, ready: list[str], by_id: dict[str, Terminal], results: dict[str, HostResult]
) -> list[str]:
    """Revoke each terminal's broker user and take it out of the register, one terminal at a time; the
    broker reloads once. Returns the terminals to stop and remove: those revoked. One the hub failed to
    revoke is not retired (it can still deliver; started again if its copy stopped it). One revoked whose
    register entry or the broker's reload failed is retired all the same — it could deliver nothing more —
    with the command the administrator runs on the hub."""
    revoked: list[str] = []
    for tid in ready:
        t, r = by_id[tid], results[tid]
        try:
            assert hub is not None
            hub.revoke(t)
        except ProvisioningError as exc:
            r.failed, r.notes = 1, [*r.notes, f"{exc}: not retired"]
            continue
        revoked.append(tid)
        try:
            hub.retire(t)
        except ProvisioningError as exc:
            r.failed = 1
            r.notes.append(
                f"{exc}; its broker user is revoked, so it is retired here all the same: run "
                f"`shegong hub terminal retire {tid}` on the hub"
            )
    if revoked:
        assert hub is not None
        try:
            hub.reload_broker()
        except ProvisioningError as exc:
            for tid in revoked:
                results[tid].failed = 1
                results[tid].notes.append(
                    f"{exc}: reload the broker on the hub; until then it still takes {tid}'s password"
                )
    return revoked


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
    hub_open = contextlib.ExitStack()
    hub: HubSession | None = None

    def the_hub() -> HubSession:
        """The hub, reached before the first terminal is stopped or retired: one it cannot reach stops none."""
        nonlocal hub
        if hub is None:
            hub = hub_open.enter_context(hub_session(inventory.hub, str(terminals[0].known_hosts.expanduser())))
        return hub

    stopped: list[str] = []  # by the copy: started again if the hub then fails
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
            the_hub()
            if depth:
                copy = keep / f"{tid}-edge.db"
                why, stopped_it = _keep(host, t, copy)
                if stopped_it:
                    stopped.append(tid)
                if why:
                    r.failed, r.notes = 1, [f"{why}: not retired"]
                    continue
                r.notes.append(f"{depth} undelivered item(s) kept in {copy} for later delivery")
            ready.append(tid)
        revoked: list[str] = []
        try:
            revoked = _at_hub(the_hub() if ready else None, ready, by_id, results)
        finally:
            for tid in stopped:  # its copy made, but the hub did not revoke it: it goes on serving
                if tid not in revoked:
                    _run(hosts[tid], by_id[tid], "systemctl start shegong-edge")
        ready = revoked
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
        hub_open.close()
        disconnect_all(state)
    return [results[t.id] for t in terminals]
