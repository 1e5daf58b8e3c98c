"""``shegong provision …``: bring terminals to their desired state over SSH, from an inventory file.

A thin layer over :mod:`provisioning.engine`; its errors become a message and exit code 2, a failed host
exit code 1 (after every host's line).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from provisioning import inventory as inv
from provisioning import wheelhouse

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong provision", description="Provision terminals over SSH (pyinfra).")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("apply", help="bring every listed terminal to its desired state, in parallel")
    a.add_argument("inventory", type=Path, help="the inventory file (TOML; see docs/provisioning.md)")
    a.add_argument("--check", action="store_true", help="change nothing; show what would change, a diff per file")
    a.add_argument("--limit", nargs="+", metavar="ID", help="only these terminals")
    a.add_argument("-v", "--verbose", action="store_true", help="pyinfra's own log of each operation")
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

    release = wheelhouse.pack(inventory.wheelhouse)
    results = engine.apply(inventory, inventory.select(ns.limit), release, check=ns.check)
    for r in results:
        print(r.line(), flush=True)
        for note in r.notes:
            print(f"  {r.terminal}: {note}", file=sys.stderr)
    print(engine.summary(results, ns.check))
    return 1 if any(r.failed for r in results) else 0
