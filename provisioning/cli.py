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

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from provisioning import inventory as inv
from provisioning import wheelhouse

if TYPE_CHECKING:
    from provisioning.engine import HostResult

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong provision", description="Provision terminals over SSH (pyinfra).")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("apply", help="bring every listed terminal to its desired state, in parallel")
    a.add_argument("inventory", type=Path, help="the inventory file (TOML; see docs/provisioning.md)")
    a.add_argument("--check", action="store_true", help="change nothing; show what would change, a diff per file")
    a.add_argument("--limit", nargs="+", metavar="ID", help="only these terminals")
    a.add_argument("-v", "--verbose", action="store_true", help="pyinfra's own log of each operation")
    r = sub.add_parser("rotate", help="new broker credentials for terminals: issued, installed, old ones refused")
    r.add_argument("inventory", type=Path, help="the inventory file")
    r.add_argument("--limit", nargs="+", metavar="ID", required=True, help="the terminals to re-key")
    r.add_argument("-v", "--verbose", action="store_true", help="pyinfra's own log of each operation")
    rt = sub.add_parser("retire", help="take terminals out of service (refused while their outbox holds cases)")
    rt.add_argument("inventory", type=Path, help="the inventory file")
    rt.add_argument("--limit", nargs="+", metavar="ID", required=True, help="the terminals to retire")
    rt.add_argument("--force", action="store_true", help="retire even with undelivered items, copied here first")
    rt.add_argument("-v", "--verbose", action="store_true", help="pyinfra's own log of each operation")
    u = sub.add_parser("upgrade", help="install the wheelhouse's release beside the old, switch, check, roll back")
    u.add_argument("inventory", type=Path, help="the inventory file")
    u.add_argument("--limit", nargs="+", metavar="ID", help="only these terminals")
    u.add_argument("--timeout", type=float, default=120.0, help="seconds a terminal has to be healthy")
    u.add_argument("-v", "--verbose", action="store_true", help="pyinfra's own log of each operation")
    w = sub.add_parser("wheelhouse", help="build the wheels terminals install from (they have no internet)")
    w.add_argument("inventory", type=Path, help="the inventory file: its wheelhouse folder is built")
    w.add_argument("--platform", help="the terminals' platform when it is not this machine's (manylinux2014_aarch64)")
    return p


def main(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(list(argv))
    if not getattr(ns, "verbose", False):
        for name in ("pyinfra", "paramiko"):  # our one line per host is the report
            logging.getLogger(name).setLevel(logging.ERROR)
    inventory = inv.load(ns.inventory)
    if ns.cmd == "wheelhouse":
        wheelhouse.build(inventory.wheelhouse, platform=ns.platform)
        release = wheelhouse.pack(inventory.wheelhouse)
        print(f"wheelhouse {inventory.wheelhouse}: release {release.name} ({release.tar})")
        return 0
    from provisioning import engine  # pyinfra (and gevent) only when a command needs them

    if ns.cmd == "retire":
        from provisioning.retire import retire

        return _report(retire(inventory, inventory.select(ns.limit), force=ns.force), check=False)
    release = wheelhouse.pack(inventory.wheelhouse)
    if ns.cmd == "upgrade":
        from provisioning.upgrade import upgrade

        return _report(upgrade(inventory, inventory.select(ns.limit), release, ns.timeout), check=False)
    check = getattr(ns, "check", False)
    rotate = ns.cmd == "rotate"
    results = engine.apply(inventory, inventory.select(ns.limit), release, check=check, new_credentials=rotate)
    return _report(results, check)


def _report(results: list[HostResult], check: bool) -> int:
    from provisioning import engine

    for r in results:
        print(r.line(), flush=True)
        for note in r.notes:
            print(f"  {r.terminal}: {note}", file=sys.stderr)
    print(engine.summary(results, check))
    return 1 if any(r.failed for r in results) else 0
