"""The hub machine, brought to its desired state by ``shegong provision apply`` (``[hub] provision = true``).

In order, each step an idempotent pyinfra operation:

1. the ``shegong-hub`` system user and its data folder ``/var/lib/shegong-hub`` (0700);
2. the release, with the hub's dependencies, installed from the wheelhouse with no index under
   ``/opt/shegong/releases/R`` (``current`` points at it), as on a terminal;
3. ``/etc/shegong/hub.toml`` (0600, the hub user's): the inventory's ``[hub.settings]`` and the broker
   link (user ``hub`` over TLS with the broker's CA);
4. the broker's files, made by the installed ``shegong hub broker``: the CA and the server certificate for
   ``broker_names`` (once), the hub's MQTT user, the tools' MQTT user (``hub-tools``, for ``shegong hub
   audit verify --witnesses``: a tool logged in as the workers' user would take over a worker's session) and
   the ACL (each once; their passwords go to ``/etc/shegong/hub.env``, root's, 0600, which systemd reads for
   the hub's units and an operator sources to run a tool), and Mosquitto's listener configuration,
   ``/etc/mosquitto/conf.d/shegong.conf``, as ``shegong hub broker conf`` prints it;
5. the hub's keys, made once by the installed ``shegong hub keys init`` where either is missing (never
   replaced: a new case key would leave every case sealed to the old one unreadable): the case key and the
   audit key beside it, 0600, the hub user's;
6. the hub's units (web, the ingest template ``shegong-ingest@.service`` with ``ingest_workers`` instances
   sharing intake, the nightly timer, the target), installed and enabled; started where systemd runs.

After the run, the keys' public halves are read (``HubSession.public_keys``), which the terminals of the
inventory must be given (``hub_public_key``, ``hub_audit_public_key``): ``provisioning.engine.apply_hub``
fails the hub, and so provisions no terminal, when they are not the hub's.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator
from typing import Any

from pyinfra.api.operation import operation
from pyinfra.context import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from provisioning import render
from provisioning.inventory import HubTarget
from provisioning.terminal import (
    OPT,
    SYSTEMD_DIR,
    SYSTEMD_RUNNING,
    ManagedFile,
    config_files,
    enabled,
    release_installed,
)
from provisioning.wheelhouse import Release

__all__ = [
    "HUB_CONFIG",
    "HUB_ENV",
    "HUB_UNITS",
    "MOSQUITTO_CONF",
    "deploy_hub",
    "hub_toml",
    "hub_units_enabled",
    "key_files",
]

HUB_CONFIG = "/etc/shegong/hub.toml"
HUB_DATA = "/var/lib/shegong-hub"
HUB_ENV = "/etc/shegong/hub.env"
MOSQUITTO_CONF = "/etc/mosquitto/conf.d/shegong.conf"
HUB_UNITS = (
    "shegong-hub.target",
    "shegong-hub-web.service",
    "shegong-ingest@.service",
    "shegong-hub-night.service",
    "shegong-hub-night.timer",
)
SHEGONG = f"{OPT}/current/bin/shegong"


def hub_units_enabled(target: HubTarget) -> tuple[str, ...]:
    workers = tuple(f"shegong-ingest@{n}.service" for n in range(1, target.ingest_workers + 1))
    return ("shegong-hub.target", "shegong-hub-web.service", *workers, "shegong-hub-night.timer")


def hub_toml(target: HubTarget) -> str:
    """``/etc/shegong/hub.toml``: the broker link (the password is in hub.env), the hub's files in its data
    folder (the settings' defaults are relative, for a checkout: under the units, whose working directory is
    ``/`` and whose only writable folder is the data folder, the night's backups and archive could not be
    written), and the inventory's settings over them."""
    values: dict[str, Any] = {
        "broker_host": "127.0.0.1",
        "broker_port": target.broker_port,
        "broker_username": "hub",
        "broker_tls_ca": f"{target.broker_dir}/ca.crt",
        "database_url": f"sqlite:///{HUB_DATA}/hub.db",
        "backup_dir": f"{HUB_DATA}/backups",
        "archive_dir": f"{HUB_DATA}/archive",
        **target.settings,
    }
    return render.toml_document(values)


#: The hub's broker users: (``shegong hub broker`` action, user name, the variable of hub.env with its password).
BROKER_USERS = (
    ("hub", "hub", "SHEGONG_HUB_BROKER_PASSWORD"),
    ("tool", "hub-tools", "SHEGONG_HUB_TOOLS_BROKER_PASSWORD"),
)


def worker_env(n: int) -> str:
    """The environment file of ``shegong-ingest@n``: its own broker user and password (the broker takes the
    user name as client id, so processes sharing ``hub`` threw each other off about once a second, a docs
    review found); the web process keeps ``hub``."""
    return f"/etc/shegong/hub-ingest-{n}.env"


def _users(target: HubTarget) -> list[tuple[str, str, str, str]]:
    """Every broker user the hub has: (action, user name, the variable holding its password, the
    environment file holding that variable). A worker's file names its user too."""
    workers = [
        ("hub", f"hub-ingest-{n}", "SHEGONG_HUB_BROKER_PASSWORD", worker_env(n))
        for n in range(1, target.ingest_workers + 1)
    ]
    return [(action, user, var, HUB_ENV) for action, user, var in BROKER_USERS] + workers


def _broker_commands(target: HubTarget) -> tuple[str, str, str]:
    """(what is there, what makes it, the configuration Mosquitto should have) as shell commands."""
    d = shlex.quote(target.broker_dir)
    names = " ".join(f"--host {shlex.quote(n)}" for n in target.broker_names or [target.host])
    conf = f"{SHEGONG} hub broker conf --dir {d} --port {target.broker_port} --bind {shlex.quote(target.broker_bind)}"
    users = _users(target)
    users_there = " && ".join(
        f"grep -q '^{user}:' {d}/passwd && grep -q '^{var}=.' {env} 2>/dev/null" for _, user, var, env in users
    )
    acl = f"{SHEGONG} hub broker acl --dir {d}"  # the release's ACL for the users there (a new topic: upgraded)
    there = (
        f"test -s {d}/ca.crt && {users_there} && "
        f"{conf} 2>/dev/null | cmp -s - {MOSQUITTO_CONF} && "
        f"{acl} --stdout 2>/dev/null | cmp -s - {d}/acl && echo ready || echo missing"
    )
    # A user whose password is not in its file (a new one, or the file lost) is issued again: revoked if it is
    # there, made anew, its lines of the file replaced (0600 from the start, moved into place whole). A worker's
    # file also names its user (hub.env's users are named in hub.toml).
    users_made = ""
    for action, user, var, env in users:
        named = env != HUB_ENV
        drop = f"-e '^{var}='" + (" -e '^SHEGONG_HUB_BROKER_USERNAME='" if named else "")
        name = f"printf 'SHEGONG_HUB_BROKER_USERNAME={user}\\n'; " if named else ""
        users_made += (
            f"if ! grep -q '^{user}:' {d}/passwd 2>/dev/null || ! grep -q '^{var}=.' {env} 2>/dev/null; then "
            f"if grep -q '^{user}:' {d}/passwd 2>/dev/null; then "
            f"{SHEGONG} hub broker revoke {user} --dir {d} >/dev/null; fi; "
            f"pw=$({SHEGONG} hub broker {action} {user} --dir {d}); "
            f"(umask 077; {{ grep -v {drop} {env} 2>/dev/null || true; {name}printf '{var}=%s\\n' \"$pw\"; }} "
            f"> {env}.tmp); chmod 600 {env}.tmp; mv -f {env}.tmp {env}; fi; "
        )
    make = (
        # umask 022: `shegong hub broker` narrows the secrets itself (keys and users 0640 for Mosquitto's group),
        # and Mosquitto, which drops root, must read the certificates
        f"set -e; umask 022; mkdir -p {d} /etc/mosquitto/conf.d; "
        f"test -s {d}/ca.crt || {SHEGONG} hub broker tls --dir {d} {names} >/dev/null; "
        f"(umask 077; touch {HUB_ENV}); chmod 600 {HUB_ENV}; "
        f"{users_made}"
        f"{acl} >/dev/null; "
        f"{conf} > {MOSQUITTO_CONF}.tmp; mv -f {MOSQUITTO_CONF}.tmp {MOSQUITTO_CONF}"
    )
    return there, make, conf


@operation()
def broker_ready(target: HubTarget) -> Generator[str, None, None]:
    """The broker's CA and certificate, the hub's and the tools' MQTT users (their passwords in hub.env), the
    ACL as this release writes it (an upgrade may add a topic) and Mosquitto's configuration, made by the
    installed ``shegong hub broker`` where any is missing or different."""
    there, make, _ = _broker_commands(target)
    if host.get_fact(Command, there) == "ready":
        return
    yield make


def key_files(target: HubTarget) -> tuple[str, str]:
    """The hub's case key file and its audit key file, as the hub's settings place them."""
    case = str(target.settings.get("case_key_file", "/etc/shegong/hub-case.key"))
    return case, str(target.settings.get("audit_key_file") or f"{case}.audit")


@operation()
def hub_keys(target: HubTarget) -> Generator[str, None, None]:
    """The case key and the audit key, made where either is missing (``keys init`` makes the audit key alone
    when the case key is there, and never replaces one), then the hub user's, 0600: keys an operator made as
    root (``shegong hub keys init`` by hand) would be unreadable to the hub's services."""
    case, audit = (shlex.quote(f) for f in key_files(target))
    owned = f"[ \"$(stat -c '%U %a' {case} {audit} | sort -u)\" = 'shegong-hub 600' ]"
    if host.get_fact(Command, f"test -s {case} && test -s {audit} && {owned} && echo ready || echo missing") == "ready":
        return
    init = f"SHEGONG_HUB_CONFIG={HUB_CONFIG} {SHEGONG} hub keys init >/dev/null 2>&1"
    yield (
        f"set -e; umask 077; {init} || test -s {case}; "
        f"test -s {audit}; chown shegong-hub:shegong-hub {case} {audit}; chmod 600 {case} {audit}"
    )


@operation()
def hub_started(units: tuple[str, ...]) -> Generator[str, None, None]:
    yield "systemctl daemon-reload"
    yield "systemctl reload-or-restart mosquitto"
    yield "systemctl restart " + " ".join(u for u in units if not u.endswith(".timer"))
    yield "systemctl start shegong-hub-night.timer"


def deploy_hub(target: HubTarget, release: Release) -> bool:
    """Add the hub's operations for the current host; returns whether systemd runs there."""
    systemd = host.get_fact(Command, SYSTEMD_RUNNING) == "running"
    server.group(name="group shegong-hub", group="shegong-hub", system=True)
    server.user(
        name="user shegong-hub",
        user="shegong-hub",
        group="shegong-hub",
        system=True,
        home="/var/lib/shegong-hub",
        create_home=False,
        shell="/usr/sbin/nologin",
    )
    files.directory(
        name="hub data folder", path="/var/lib/shegong-hub", user="shegong-hub", group="shegong-hub", mode="0700"
    )
    changed = [release_installed(name=f"release {release.name} installed with the hub's", release=release, extra="hub")]
    changed.append(files.link(name="current release", path=f"{OPT}/current", target=release.path, symbolic=True))
    files.directory(name="/etc/shegong", path="/etc/shegong", user="root", group="root", mode="0755")
    wanted = [ManagedFile(HUB_CONFIG, hub_toml(target), "600", "shegong-hub", "shegong-hub")]
    wanted += [ManagedFile(f"/etc/systemd/system/{u}", (SYSTEMD_DIR / "hub" / u).read_text()) for u in HUB_UNITS]
    changed.append(config_files(name="hub configuration and units", wanted=tuple(wanted)))
    changed.append(broker_ready(name="broker files and Mosquitto configuration", target=target))
    changed.append(hub_keys(name="the hub's case and audit keys", target=target))
    units = hub_units_enabled(target)
    enabled(name="hub units enabled", units=units)
    if systemd:
        hub_started(name="hub (re)started", units=units, _if=[lambda: any(m.did_change() for m in changed)])
    return systemd
