"""What provisioning asks of the hub, over SSH (or on this machine, ``host = "@local"``).

A terminal without broker credentials gets them here: ``shegong hub broker add ID`` makes its MQTT user
and prints the password once (it goes straight into the terminal's edge.toml, never to a file on the
administrator's machine), ``shegong hub terminal register ID --committee CODE`` enters it in the
terminal register (ingest takes cases from registered terminals only). After the run, the public half of
each audit key the run made is registered too (``--audit-key``, read from the terminal's own ``shegong edge
keys public``), then the broker reloads its users.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager

from pyinfra.api.command import StringCommand
from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.host import Host
from pyinfra.api.inventory import Inventory
from pyinfra.api.state import State

from provisioning.errors import ProvisioningError
from provisioning.inventory import HubTarget, Terminal

__all__ = ["HubSession", "hub_session"]


class HubSession:
    """An open connection to the hub that issues, revokes and registers terminals."""

    def __init__(self, target: HubTarget, host: Host) -> None:
        self.target = target
        self.host = host
        self._keys: tuple[str, str] | None = None

    def _run(self, *args: str, stdin: str | None = None, database: bool = False) -> str:
        """``shegong *args`` on the hub. ``database``: the command writes the hub's database; on a hub this
        inventory provisions it runs as the hub's user, so a SQLite database it makes is the hub's to open
        (made by root, the hub's services could not)."""
        env = [f"{k}={shlex.quote(v)}" for k, v in self.target.env.items()]
        as_hub = ["runuser", "-u", "shegong-hub", "--", "env"] if database and self.target.provision else []
        command = " ".join([*as_hub, *env, shlex.join([self.target.shegong, *args])])
        ok, output = self.host.run_shell_command(
            StringCommand(command), _sudo=self.target.ssh_user != "root", _stdin=stdin
        )
        if not ok:
            raise ProvisioningError(f"on the hub, `{shlex.join(['shegong', *args])}` failed: {output.stderr.strip()}")
        return output.stdout.strip()

    def issue(self, t: Terminal) -> str:
        """A new broker password for ``t`` (its MQTT user made, or revoked and made again), with ``t`` in
        the register. The old password works until the broker is reloaded (:meth:`reload_broker`), and
        again after it if it is put back (:meth:`restore`)."""
        self.check_keys(t)
        self.revoke(t)
        password = self._run("hub", "broker", "add", t.id, "--dir", self.target.broker_dir)
        if not password or len(password.split()) != 1:
            raise ProvisioningError(f"on the hub, `shegong hub broker add {t.id}` printed no password")
        self._run("hub", "terminal", "register", t.id, "--committee", t.committee_code, *_series(t), database=True)
        return password

    def public_keys(self) -> tuple[str, str]:
        """The public halves of the hub's case key and audit key, read there once per session."""
        if self._keys is None:
            self._keys = (self._run("hub", "keys", "public"), self._run("hub", "keys", "audit-public"))
        return self._keys

    def check_keys(self, t: Terminal) -> None:
        """:class:`ProvisioningError` unless the inventory gives ``t`` the hub's own public keys: a terminal
        sealing cases to another key's public half sends cases nobody can open, and one checking anchors
        against another key refuses the hub's."""
        case, audit = self.public_keys()
        if (t.hub_public_key, t.hub_audit_public_key) != (case, audit):
            raise ProvisioningError(
                f'the inventory gives {t.id} other public keys than the hub\'s: set hub_public_key = "{case}" and '
                f'hub_audit_public_key = "{audit}" (`shegong hub keys public` and `audit-public` on the hub); '
                "nothing was issued"
            )

    def restore(self, t: Terminal, password: str) -> None:
        """``t``'s broker user with ``password`` again, the one it held before :meth:`issue` (the terminal
        never got the new one): given on the command's standard input, never in its arguments."""
        self.revoke(t)
        self._run("hub", "broker", "add", t.id, "--dir", self.target.broker_dir, "--password-stdin", stdin=password)

    def register_audit_key(self, t: Terminal, public_key: str) -> None:
        """The public half of ``t``'s audit key, read from the terminal: the hub checks its audit chain with
        it (and refuses segments presenting another)."""
        self._run(
            "hub",
            "terminal",
            "register",
            t.id,
            "--committee",
            t.committee_code,
            *_series(t),
            "--audit-key",
            public_key,
            database=True,
        )

    def revoke(self, t: Terminal) -> None:
        """``t``'s MQTT user removed, if the broker has one (a retire run again after a failure finds none)."""
        if t.id in self._run("hub", "broker", "list", "--dir", self.target.broker_dir).split():
            self._run("hub", "broker", "revoke", t.id, "--dir", self.target.broker_dir)

    def retire(self, t: Terminal) -> None:
        """Out of the terminal register (ingest takes no more cases from it) and shown retired on the fleet
        dashboard, which raises no more alerts for it."""
        self._run("hub", "terminal", "retire", t.id, database=True)

    def reload_broker(self) -> None:
        ok, output = self.host.run_shell_command(
            StringCommand(self.target.reload_broker), _sudo=self.target.ssh_user != "root"
        )
        if not ok:
            raise ProvisioningError(f"on the hub, reloading the broker failed: {output.stderr.strip()}")


@contextmanager
def hub_session(target: HubTarget | None, known_hosts: str) -> Iterator[HubSession]:
    """Connect to the hub named by the inventory's ``[hub]``; an error if there is none or it is unreachable."""
    if target is None:
        raise ProvisioningError("the inventory has no [hub]: terminals without broker credentials cannot get them")
    data: dict[str, object] = {}
    if target.host != "@local":
        data = {
            "ssh_port": target.ssh_port,
            "ssh_user": target.ssh_user,
            "ssh_known_hosts_file": known_hosts,
            "ssh_strict_host_key_checking": "accept-new",
        }
        if target.ssh_key:
            data["ssh_key"] = str(target.ssh_key)
    state = State(Inventory(([(target.host, data)], {})), Config())
    connect_all(state)
    hosts = list(state.activated_hosts)
    if not hosts:
        raise ProvisioningError(f"cannot connect to the hub at {target.host}")
    try:
        yield HubSession(target, hosts[0])
    finally:
        disconnect_all(state)


def _series(t: Terminal) -> list[str]:
    """``--series N`` for a terminal given a receipt series: the hub's register holds what its edge.toml says."""
    return [] if t.receipt_series is None else ["--series", str(t.receipt_series)]
