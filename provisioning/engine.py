"""Run the terminal deploy on many hosts at once with pyinfra, and say per host what changed.

pyinfra connects to every host in parallel (a pool of up to ``PARALLEL`` SSH connections), prepares
each operation against the host's current state (facts), and runs them; a host that fails drops out and
the others carry on. ``check`` stops after preparing: nothing runs on any host, and a diff per file
(secrets masked) shows what would change.

One line per host that tools read — ``host=… terminal=… changed=N failed=N`` — and a summary; the
caller exits non-zero when any host failed. Beside each host's notes, the seconds each step took there
(connecting, looking at the host, each operation, the checks from a second connection): a slow link or a
slow step shows where the time goes.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
import shlex
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.operations import run_ops
from pyinfra.api.state import BaseStateCallback, State
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts.files import FileContents
from pyinfra.facts.server import Command

from provisioning import credentials, render
from provisioning.errors import ProvisioningError
from provisioning.inventory import HubTarget, Terminal
from provisioning.inventory import Inventory as ShegongInventory
from provisioning.terminal import (
    AUDIT_PUBLIC_HEX,
    CONFIRM_FIREWALL,
    OPT,
    RELOAD_SSHD,
    SSHD_DROPIN,
    ManagedFile,
    Release,
    Steps,
    deploy_terminal,
    load_firewall,
    managed_files,
    nft_digest,
    state_command,
)

__all__ = ["HostResult", "apply", "host_data", "summary"]

log = logging.getLogger(__name__)
MAX_PARALLEL = 100
SSHD_RESTART_S = 15.0  # how long sshd may take to listen again after its reload


BACKUPS_IN_CLEAR = (
    "the hub's backups and archive will be written in clear (every resident's name and ID number): make a key "
    "pair on this workstation with `shegong hub keys backup-init --out FILE`, keep FILE off the hub, and set "
    "[hub] settings.backup_public_key to the key it prints"
)
"""Said after a hub provisioned without a backup key (a personal-data review: provisioning never set one)."""


@dataclass
class HostResult:
    terminal: str
    host: str
    changed: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    role: str = "terminal"
    seconds: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds) in the order they ran

    def line(self) -> str:
        who = f"terminal={self.terminal}" if self.role == "terminal" else f"role={self.role}"
        return f"host={self.host} {who} changed={self.changed} failed={self.failed}"

    def timing(self) -> str:
        """``took 31.2 s: connect 0.3 s, …`` (steps under a tenth of a second left out), or ``""``."""
        if not self.seconds:
            return ""
        steps = ", ".join(f"{step} {s:.1f} s" for step, s in self.seconds if s >= 0.1)
        return f"took {sum(s for _, s in self.seconds):.1f} s" + (f": {steps}" if steps else "")


class Clock(BaseStateCallback):
    """The seconds each step takes on each host: pyinfra's connections and operations (its callbacks, which
    it declares static and calls with the state first), and the engine's own steps (:meth:`step`)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, list[tuple[str, float]]] = defaultdict(list)
        self._began: dict[tuple[str, str], float] = {}

    @contextlib.contextmanager
    def step(self, host: str, what: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.seconds[host].append((what, time.monotonic() - began))

    def _start(self, host: Host, key: str) -> None:
        self._began[(host.name, key)] = time.monotonic()

    def _end(self, host: Host, key: str, what: str) -> None:
        began = self._began.pop((host.name, key), None)
        if began is not None:
            self.seconds[host.name].append((what, time.monotonic() - began))

    def host_before_connect(self, state: State, host: Host) -> None:  # type: ignore[override]
        self._start(host, "connect")

    def host_connect(self, state: State, host: Host) -> None:  # type: ignore[override]
        self._end(host, "connect", "connect")

    def operation_host_start(self, state: State, host: Host, op_hash: str) -> None:  # type: ignore[override]
        self._start(host, op_hash)

    def operation_host_success(self, state: State, host: Host, op_hash: str, retry_count: int = 0) -> None:  # type: ignore[override]
        self._end(host, op_hash, ", ".join(sorted(state.get_op_meta(op_hash).names)))

    def operation_host_error(  # type: ignore[override]
        self, state: State, host: Host, op_hash: str, retry_count: int = 0, max_retries: int = 0
    ) -> None:
        self._end(host, op_hash, ", ".join(sorted(state.get_op_meta(op_hash).names)) + " (failed)")


def summary(results: list[HostResult], check: bool) -> str:
    hub = [r for r in results if r.role == "hub"]
    results = [r for r in results if r.role == "terminal"]
    failed = sum(1 for r in results if r.failed)
    hosts_changed = sum(1 for r in results if r.changed and not r.failed)
    verb = "would change" if check else "changed"
    unchanged = len(results) - hosts_changed - failed
    said = f"{len(results)} terminal(s): {hosts_changed} {verb}, {unchanged} unchanged, {failed} failed"
    for r in hub:
        said = f"hub: {'failed' if r.failed else verb if r.changed else 'unchanged'}; " + said
    return said


def host_data(t: Terminal) -> dict[str, object]:
    data: dict[str, object] = {
        "ssh_hostname": t.host,
        "ssh_port": t.ssh_port,
        "ssh_user": t.ssh_user,
        "ssh_known_hosts_file": str(t.known_hosts.expanduser()),
        "ssh_strict_host_key_checking": "accept-new",  # a new terminal's key is pinned; a changed one refused
    }
    if t.ssh_key:
        data["ssh_key"] = str(t.ssh_key)
    if t.ssh_user != "root":
        data["_sudo"] = True
    return data


def _diff(host: Host, t: Terminal, password: str, emit: Callable[[str], None]) -> None:
    """A unified diff per file that would change (secrets masked); only those files are read."""
    wanted = managed_files(t, password)
    states = (host.get_fact(Command, state_command([f.path for f in wanted])) or "").splitlines()
    digests = dict(zip([f.path for f in wanted], [s.rsplit(" ", 1)[-1] for s in states], strict=False))
    for f in [*wanted, ManagedFile(SSHD_DROPIN, render.sshd_conf(t))]:
        if digests.get(f.path) == hashlib.sha256(f.content.encode()).hexdigest():
            continue
        current = host.get_fact(FileContents, path=f.path)
        was = "\n".join(current) + "\n" if current else ""
        before, after = render.mask_secrets(was), render.mask_secrets(f.content, was)
        if before != after:
            for line in difflib.unified_diff(
                before.splitlines(), after.splitlines(), f"{t.id}:{f.path}", f"{t.id}:{f.path} (desired)", lineterm=""
            ):
                emit(line)


def _second_connection(t: Terminal, command: str = "true") -> subprocess.CompletedProcess[str]:
    """A new SSH connection with the administrator's key, as the next session will be made; it runs ``command``."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-o", "StrictHostKeyChecking=yes"]
    # Never over a shared connection (an administrator's ControlMaster/ControlPersist): one authenticated
    # before the change would let this check pass while new logins are refused.
    cmd += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    cmd += ["-o", f"UserKnownHostsFile={t.known_hosts.expanduser()}", "-p", str(t.ssh_port)]
    if t.ssh_key:
        cmd += ["-o", "IdentitiesOnly=yes", "-i", str(t.ssh_key)]
    cmd += [f"{t.ssh_user}@{t.host}", command if t.ssh_user == "root" else f"sudo -n sh -c {shlex.quote(command)}"]
    deadline = time.monotonic() + SSHD_RESTART_S
    while True:  # sshd that re-reads its settings re-executes itself: a moment with no listener is not a refusal
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode == 0 or "Connection refused" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def _check_sshd(host: Host, t: Terminal, result: HostResult) -> None:
    """sshd's new settings let the administrator in again, or the old ones are put back (over the first
    connection, still open) and the host counts as failed."""
    sudo = t.ssh_user != "root"
    done = _second_connection(t)
    if done.returncode == 0:
        host.run_shell_command(StringCommand(f"rm -f {SSHD_DROPIN}.prev"), _sudo=sudo)
        return
    restore = f"mv -f {SSHD_DROPIN}.prev {SSHD_DROPIN}; {RELOAD_SSHD}"
    ok, _ = host.run_shell_command(StringCommand(restore), _sudo=sudo)
    result.failed += 1
    result.notes.append(
        "a second SSH connection was refused with the new sshd settings "
        f"({done.stderr.strip() or done.returncode}); the old settings were put back"
        + ("" if ok else " — FAILED to put them back: keep this session's console at hand")
    )


def _load_firewall(host: Host, t: Terminal, result: HostResult) -> None:
    """Load the firewall's new rules with a dead man's switch, and confirm them from a second connection.
    Refused, the rules from before come back by themselves (the first connection may be cut off by the
    new rules: nothing is asked of it); a third connection then checks that the administrator gets in."""
    ok, output = host.run_shell_command(
        StringCommand(load_firewall(nft_digest(render.nftables_conf(t)), t.firewall_rollback_s)),
        _sudo=t.ssh_user != "root",
        _timeout=60,
    )
    if not ok:
        result.failed += 1
        result.notes.append(f"loading the firewall's rules failed: {' '.join(output.stderr_lines)[-300:]}")
        return
    done = _second_connection(t, CONFIRM_FIREWALL)
    if done.returncode == 0:
        return
    result.failed += 1
    time.sleep(t.firewall_rollback_s + 2)
    back = _second_connection(t).returncode == 0
    result.notes.append(
        "a second SSH connection was refused with the firewall's new rules "
        f"({done.stderr.strip() or done.returncode}); "
        + (
            f"the rules from before came back by themselves after {t.firewall_rollback_s} s"
            if back
            else "the rules from before should have come back but the administrator still cannot connect: "
            "use the terminal's console"
        )
    )


def apply(
    inventory: ShegongInventory,
    terminals: list[Terminal],
    release: Release,
    check: bool = False,
    emit: Callable[[str], None] = print,
    new_credentials: bool = False,
) -> list[HostResult]:
    """Bring ``terminals`` to their desired state (or, with ``check``, show what would change).
    ``new_credentials`` (rotate): each gets a new broker password from the hub, whatever it has."""
    results = {t.id: HostResult(t.id, t.host if t.ssh_port == 22 else f"{t.host}:{t.ssh_port}") for t in terminals}
    by_id = {t.id: t for t in terminals}
    config = Config(PARALLEL=min(MAX_PARALLEL, max(1, len(terminals))), CONNECT_TIMEOUT=15)
    state = State(Inventory(([(t.id, host_data(t)) for t in terminals], {})), config)
    clock = Clock()
    state.add_callback_handler(clock)
    with contextlib.suppress(PyinfraError):  # every host failed to connect: each is reported below
        connect_all(state)
    hosts = {h.name: h for h in state.activated_hosts if h not in state.failed_hosts}
    for tid, r in results.items():
        if tid not in hosts:
            r.failed += 1
            r.notes.append("no SSH connection")

    def failed(tid: str, why: str) -> None:
        results[tid].failed = max(results[tid].failed, 1)
        results[tid].notes.append(why)

    try:
        passwords, issued = credentials.issue(
            state, hosts, by_id, inventory, check, new_credentials, failed, clock.step
        )
    except Exception:
        disconnect_all(state)
        raise
    hosts = {tid: host for tid, host in hosts.items() if tid in passwords}  # none issued: left as it is
    steps: dict[str, Steps] = {}
    with ctx_state.use(state):
        for tid, host in hosts.items():
            with ctx_host.use(host), clock.step(tid, "look at the host"):
                steps[tid] = deploy_terminal(by_id[tid], passwords[tid], release)
                if check:
                    _diff(host, by_id[tid], passwords[tid], emit)
    try:
        if check:
            for tid, host in hosts.items():
                results[tid].changed = state.get_meta_for_host(host).ops_change
        else:
            try:
                run_ops(state, no_wait=True)
            except PyinfraError as exc:
                log.error("provisioning stopped: %s", exc)
            keys = _new_audit_keys(state, hosts, by_id, steps, issued, results)
            if issued or keys:
                wrote = {tid: s.config.is_complete() and s.config.did_succeed() for tid, s in steps.items()}
                credentials.settle(inventory, hosts, by_id, passwords, issued, wrote, keys, failed)
            for tid, host in hosts.items():
                r = results[tid]
                ops = state.ops.get(host, {}).values()
                r.changed = sum(1 for op in ops if op.operation_meta.is_complete() and op.operation_meta.did_change())
                r.failed = max(r.failed, state.get_results_for_host(host).error_ops or int(host in state.failed_hosts))
                sshd, nft = steps[tid].sshd, steps[tid].firewall
                if not r.failed and sshd.is_complete() and sshd.did_change():
                    with clock.step(tid, "sshd checked from a second connection"):
                        _check_sshd(host, by_id[tid], r)
                if not r.failed and nft is not None and nft.is_complete() and nft.did_change():
                    with clock.step(tid, "firewall loaded and confirmed"):
                        _load_firewall(host, by_id[tid], r)
                if not r.failed and not steps[tid].systemd:
                    r.notes.append("systemd is not running there: units installed and enabled, starting skipped")
    finally:
        disconnect_all(state)
    for tid, r in results.items():
        r.seconds = clock.seconds[tid] + r.seconds
    return [results[t.id] for t in terminals]


def _keys_given(inventory: ShegongInventory, host: Host, target: HubTarget) -> list[str]:
    """What is wrong with the public keys the inventory gives its terminals, against the hub's own: a
    terminal sealing cases to another key's public half would send cases nobody can open. Empty when right."""
    from provisioning.hubside import HubSession

    try:
        case, audit = HubSession(target, host).public_keys()
    except ProvisioningError as exc:
        return [f"the hub's public keys cannot be read: {exc}"]
    wrong = sorted({t.id for t in inventory.terminals if (t.hub_public_key, t.hub_audit_public_key) != (case, audit)})
    if not wrong:
        return []
    return [
        f"the inventory gives terminal(s) {', '.join(wrong)} other public keys than this hub's: set in [defaults] "
        f'hub_public_key = "{case}" and hub_audit_public_key = "{audit}" (the hub\'s keys, `shegong hub keys '
        "public` and `audit-public` there), then apply again; no terminal was provisioned"
    ]


def apply_hub(inventory: ShegongInventory, release: Release, check: bool = False) -> HostResult:
    """Bring the hub machine of ``[hub]`` to its desired state (``provisioning.hubhost``)."""
    from provisioning.hubhost import deploy_hub

    target = inventory.hub
    assert target is not None and target.provision
    result = HostResult("hub", target.address, role="hub")
    data: dict[str, object] = {}
    if target.host != "@local":
        data = {
            "ssh_hostname": target.host,
            "ssh_port": target.ssh_port,
            "ssh_user": target.ssh_user,
            "ssh_known_hosts_file": str(inventory.terminals[0].known_hosts.expanduser()),
            "ssh_strict_host_key_checking": "accept-new",
            **({"ssh_key": str(target.ssh_key)} if target.ssh_key else {}),
            **({"_sudo": True} if target.ssh_user != "root" else {}),
        }
    state = State(Inventory(([("hub", data)], {})), Config(CONNECT_TIMEOUT=15))
    clock = Clock()
    state.add_callback_handler(clock)
    with contextlib.suppress(PyinfraError):
        connect_all(state)
    hosts = [h for h in state.activated_hosts if h not in state.failed_hosts]
    if not hosts:
        result.failed, result.notes = 1, ["no SSH connection to the hub"]
        return result
    host = hosts[0]
    try:
        with ctx_state.use(state), ctx_host.use(host), clock.step("hub", "look at the host"):
            systemd = deploy_hub(target, release)
        if check:
            result.changed = state.get_meta_for_host(host).ops_change
            return result
        try:
            run_ops(state)
        except PyinfraError as exc:
            log.error("provisioning the hub stopped: %s", exc)
        ops = state.ops.get(host, {}).values()
        result.changed = sum(1 for op in ops if op.operation_meta.is_complete() and op.operation_meta.did_change())
        result.failed = state.get_results_for_host(host).error_ops or int(host in state.failed_hosts)
        if not result.failed:
            mismatched = _keys_given(inventory, host, target)
            result.notes += mismatched
            result.failed = int(bool(mismatched))
        if not result.failed and not systemd:
            result.notes.append("systemd is not running there: units installed and enabled, starting skipped")
        if not target.settings.get("backup_public_key"):
            result.notes.append(BACKUPS_IN_CLEAR)
    finally:
        disconnect_all(state)
        result.seconds = clock.seconds["hub"]
    return result


def _new_audit_keys(
    state: State,
    hosts: dict[str, Host],
    by_id: dict[str, Terminal],
    steps: dict[str, Steps],
    issued: dict[str, str | None],
    results: dict[str, HostResult],
) -> dict[str, str]:
    """The public half of each audit key made by this run (or of a terminal the hub issued credentials to
    now), read from the terminal's own ``shegong edge keys public``: the hub is given it at once, so it
    never pins a key on first use for a provisioned terminal."""
    keys: dict[str, str] = {}
    for tid, host in hosts.items():
        made = steps[tid].audit_key
        if host in state.failed_hosts or not made.is_complete() or not (made.did_change() or tid in issued):
            continue
        ok, output = host.run_shell_command(
            StringCommand(f"runuser -u shegong -- {OPT}/current/bin/shegong edge keys public"),
            _sudo=by_id[tid].ssh_user != "root",
        )
        key = output.stdout.strip() if ok else ""
        if len(key) != AUDIT_PUBLIC_HEX:
            results[tid].failed += 1
            results[tid].notes.append(
                f"its audit key could not be read ({output.stderr.strip() or key!r}): not registered at the hub"
            )
            continue
        keys[tid] = key
    return keys
