"""``shegong provision …``: bring terminals to their desired state over SSH, from an inventory file.

``retire`` refuses a terminal whose outbox holds undelivered cases (unless forced: copied here first),
revokes its broker user, removes it from the register, stops its services and removes its data.
``upgrade`` installs a new release beside the old, switches, and rolls back a terminal not healthy in time.
``apply`` makes each terminal what the inventory says; ``rotate`` does the same with new broker
credentials: the hub revokes the old user and issues a new password, the broker reloads (the old
password is refused from then on), the terminal gets the new one and, where systemd runs, restarts.

A thin layer over :mod:`provisioning.engine`; its errors become a message and exit code 2, a failed host
exit code 1 (after every host's line).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kernel.cli import run as run_cli
from provisioning import inventory as inv
from provisioning import wheelhouse

if TYPE_CHECKING:
    from provisioning.engine import HostResult

__all__ = ["main", "provision"]

_INVENTORY = click.argument("inventory", type=click.Path(path_type=Path, dir_okay=False))
_VERBOSE = click.option("-v", "--verbose", is_flag=True, help="pyinfra's own log of each operation")


def _quiet(verbose: bool) -> None:
    if not verbose:
        for name in ("pyinfra", "paramiko"):  # our one line per host is the report
            logging.getLogger(name).setLevel(logging.ERROR)


@click.group("provision")
def provision() -> None:
    """Provision terminals over SSH (pyinfra) from an inventory file (TOML; see docs/provisioning.md)."""


@provision.command("apply")
@_INVENTORY
@click.option("--check", is_flag=True, help="change nothing; show what would change, a diff per file")
@click.option("--limit", multiple=True, metavar="ID", help="only this terminal (repeat)")
@_VERBOSE
def apply(inventory: Path, check: bool, limit: tuple[str, ...], verbose: bool) -> int:
    """Bring every listed terminal (and the hub, if [hub] says provision) to its desired state."""
    return _apply(inventory, limit, verbose, check=check, rotate=False)


@provision.command("rotate")
@_INVENTORY
@click.option("--limit", multiple=True, metavar="ID", required=True, help="a terminal to re-key (repeat)")
@_VERBOSE
def rotate(inventory: Path, limit: tuple[str, ...], verbose: bool) -> int:
    """New broker credentials for terminals: issued, installed, old ones refused."""
    return _apply(inventory, limit, verbose, check=False, rotate=True)


@provision.command("retire")
@_INVENTORY
@click.option("--limit", multiple=True, metavar="ID", required=True, help="a terminal to retire (repeat)")
@click.option("--force", is_flag=True, help="retire even with undelivered items, copied here first")
@_VERBOSE
def retire(inventory: Path, limit: tuple[str, ...], force: bool, verbose: bool) -> int:
    """Take terminals out of service (refused while their outbox holds cases)."""
    _quiet(verbose)
    from provisioning.retire import retire as retire_hosts

    loaded = inv.load(inventory)
    return _report(retire_hosts(loaded, loaded.select(list(limit) or None), force=force), check=False)


@provision.command("upgrade")
@_INVENTORY
@click.option("--limit", multiple=True, metavar="ID", help="only this terminal (repeat)")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="seconds a terminal has to be healthy")
@_VERBOSE
def upgrade(inventory: Path, limit: tuple[str, ...], timeout: float, verbose: bool) -> int:
    """Install the wheelhouse's release beside the old, switch, check, roll back if unhealthy."""
    _quiet(verbose)
    from provisioning.upgrade import upgrade as upgrade_hosts

    loaded = inv.load(inventory)
    release = wheelhouse.pack(loaded.wheelhouse)
    return _report(upgrade_hosts(loaded, loaded.select(list(limit) or None), release, timeout), check=False)


@provision.command("wheelhouse")
@_INVENTORY
@click.option("--platform", help="the terminals' platform when it is not this machine's (manylinux2014_aarch64)")
def build_wheelhouse(inventory: Path, platform: str | None) -> int:
    """Build the wheels terminals install from (they have no internet)."""
    loaded = inv.load(inventory)
    wheelhouse.build(loaded.wheelhouse, platform=platform)
    release = wheelhouse.pack(loaded.wheelhouse)
    print(f"wheelhouse {loaded.wheelhouse}: release {release.name} ({release.tar})")
    return 0


def _apply(inventory: Path, limit: tuple[str, ...], verbose: bool, *, check: bool, rotate: bool) -> int:
    _quiet(verbose)
    loaded = inv.load(inventory)
    from provisioning import engine  # pyinfra (and gevent) only when a command needs them

    release = wheelhouse.pack(loaded.wheelhouse)
    hub = []
    if loaded.hub is not None and loaded.hub.provision and not limit and not rotate:  # first: terminals need it
        hub = [engine.apply_hub(loaded, release, check=check)]
        if hub[0].failed:
            return _report(hub, check)
    results = engine.apply(loaded, loaded.select(list(limit) or None), release, check=check, new_credentials=rotate)
    return _report(hub + results, check)


def main(argv: Sequence[str]) -> int:
    """``shegong provision`` on ``argv``; returns the exit code (the tests call it so)."""
    return run_cli(provision, argv, "shegong provision")


def _report(results: list[HostResult], check: bool) -> int:
    from provisioning import engine

    for r in results:
        print(r.line(), flush=True)
        for note in filter(None, [*r.notes, r.timing()]):
            print(f"  {r.terminal}: {note}", file=sys.stderr)
    print(engine.summary(results, check))
    return 1 if any(r.failed for r in results) else 0
