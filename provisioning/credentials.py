"""A terminal's broker password through apply and rotate, so that a failure part-way never leaves the
terminal holding a password the broker refuses.

The hub issues a new password (``shegong hub broker add``) before the terminal is written: the password
file changes then, but the running broker keeps the old one until it reloads. After the run, each
terminal the hub issued a password to is looked at (the digest of its edge.toml, not the password):

- it holds the new one: the broker reloads, and the old one is refused from then on;
- it still holds its old one (the write failed, the connection dropped: edge.toml is replaced whole, so
  it is one or the other): its old password is put back at the hub (``add --password-stdin``), so this
  reload, and every later one, keeps taking it. The host is reported failed: rotate again once it is fixed;
- the reload itself fails, or the hub cannot be reached: the terminals holding their new password are
  reported failed with the command that fixes it (the password file is right: any reload will do).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager

from pyinfra.api.command import StringCommand
from pyinfra.api.host import Host
from pyinfra.api.state import State
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts.files import FileContents

from provisioning import render
from provisioning.errors import ProvisioningError
from provisioning.hubside import HubSession, hub_session
from provisioning.inventory import Inventory, Terminal
from provisioning.terminal import state_command

__all__ = ["NOT_YET_ISSUED", "current_password", "issue", "settle"]

NOT_YET_ISSUED = "(issued by the hub at apply)"
Failed = Callable[[str, str], None]  # (terminal id, why): the host is reported failed with this note


def current_password(host: Host) -> str | None:
    """The broker password in the terminal's edge.toml, or None (in pyinfra's host context)."""
    lines = host.get_fact(FileContents, path=render.CONFIG_PATH)
    if not lines:
        return None
    try:
        value = tomllib.loads("\n".join(lines)).get("broker_password")
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) and value else None


def issue(
    state: State,
    hosts: dict[str, Host],
    by_id: dict[str, Terminal],
    inventory: Inventory,
    check: bool,
    renew: bool,
    failed: Failed,
    step: Callable[[str, str], AbstractContextManager[None]],
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Each terminal's broker password: the one it has, else (or if ``renew``) a new one from the hub (none
    in check mode); and, per terminal the hub issued one to, the password it held before (None: it had
    none). A terminal the hub could not issue one to is ``failed`` and left out (its old password, which
    the hub may have revoked already, put back)."""
    held: dict[str, str | None] = {}
    with ctx_state.use(state):
        for tid, host in hosts.items():
            with ctx_host.use(host):
                held[tid] = current_password(host)
    passwords = {tid: pw for tid, pw in held.items() if pw and not renew}
    missing = [by_id[tid] for tid in hosts if tid not in passwords]
    issued: dict[str, str | None] = {}
    if missing and check:
        passwords.update({t.id: NOT_YET_ISSUED for t in missing})
    elif missing:
        with hub_session(inventory.hub, str(missing[0].known_hosts.expanduser())) as hub:
            for t in missing:
                try:
                    with step(t.id, "broker user issued by the hub"):
                        passwords[t.id] = hub.issue(t)
                except ProvisioningError as exc:
                    failed(t.id, f"{exc}; {_put_back(hub, t, held[t.id])}")
                    continue
                issued[t.id] = held[t.id]
    return passwords, issued


def _put_back(hub: HubSession, t: Terminal, old: str | None) -> str:
    """``t``'s old password made the broker's again; what happened, in words for the administrator."""
    if not old:
        return "it has no broker password yet"
    try:
        hub.restore(t, old)
    except ProvisioningError as exc:
        return (
            f"putting its old broker password back at the hub failed too ({exc}): the broker will refuse it from "
            "its next reload — run rotate again for it now"
        )
    return "it keeps its old broker password, which the broker takes (put back at the hub)"


def _holds_new(host: Host, t: Terminal, password: str) -> bool | None:
    """Whether the terminal's edge.toml now is the one written with ``password`` (by its digest, read
    afresh: pyinfra's facts are from before the run), or None when it cannot be looked at."""
    try:
        ok, output = host.run_shell_command(
            StringCommand(state_command([render.CONFIG_PATH])), _sudo=t.ssh_user != "root"
        )
    except Exception:  # noqa: BLE001 - a connection gone (paramiko's errors): the run's record decides
        return None
    if not ok:
        return None
    return output.stdout.strip().endswith(hashlib.sha256(render.edge_toml(t, password).encode()).hexdigest())


def settle(
    inventory: Inventory,
    hosts: dict[str, Host],
    by_id: dict[str, Terminal],
    passwords: dict[str, str],
    issued: dict[str, str | None],
    wrote: dict[str, bool],
    keys: dict[str, str],
    failed: Failed,
) -> None:
    """After the run: the broker takes, for each terminal issued a password, the one the terminal holds
    (module docstring; ``wrote``: whether the run wrote its configuration, for a terminal that cannot be
    looked at again); audit keys registered; the broker reloaded. A terminal left needing something is
    ``failed`` with what to do."""
    holding_new: list[str] = []
    holding_old: list[str] = []
    told: set[str] = set()
    for tid in issued:
        holds = _holds_new(hosts[tid], by_id[tid], passwords[tid])
        (holding_new if (wrote[tid] if holds is None else holds) else holding_old).append(tid)
    target = inventory.hub
    try:
        with hub_session(target, str(by_id[next(iter([*issued, *keys]))].known_hosts.expanduser())) as hub:
            for tid in holding_old:  # first: whatever fails next, the broker's file keeps what they hold
                failed(tid, f"its new broker password never reached it: {_put_back(hub, by_id[tid], issued[tid])}")
                told.add(tid)
            for tid, key in keys.items():  # before the broker takes a new password: no key on first use
                hub.register_audit_key(by_id[tid], key)
            if issued:  # after the terminals have their new passwords: the old ones are refused from now on
                hub.reload_broker()
    except ProvisioningError as exc:
        if not issued:
            raise
        fix = target.reload_broker if target is not None else "reload the broker"
        for tid in holding_new:
            failed(tid, f"{exc}: the broker refuses its new password until it reloads its users — on the hub: {fix}")
        for tid in set(holding_old) - told:
            failed(tid, "the hub is to take its old broker password back: run rotate again for it")
