"""``shegong hub catalogue list|export|import|publish|discard``: the catalogue from the command line.

A thin layer over :class:`hub.catalogue.store.CatalogueStore`; its errors (``CatalogueError``) become a
message on stderr and exit code 2 in ``shegong``'s root. ``publish`` announces the new version through
the broker at once; if the broker is not reachable, the running hub announces it within seconds.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from hub import settings as hub_settings
from hub.catalogue.announce import announce_once
from hub.catalogue.store import CatalogueError, CatalogueStore
from hub.db.engine import open_engine

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong hub catalogue", description="The service catalogue terminals run.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="versions, newest first, and the draft if there is one")
    ex = sub.add_parser("export", help="write a version (default: the newest published) as JSON")
    ex.add_argument("--version", type=int, help="which published version")
    ex.add_argument("--draft", action="store_true", help="the draft instead")
    ex.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    im = sub.add_parser("import", help="make a JSON catalogue file the draft (replacing any draft)")
    im.add_argument("file", type=Path, help="a catalogue as `export` writes it")
    im.add_argument("--note", default="", help="what changed, for the version list")
    pub = sub.add_parser("publish", help="publish the draft as the next version and announce it to terminals")
    pub.add_argument("--note", default="", help="what changed, for the version list")
    pub.add_argument("--no-announce", action="store_true", help="leave the announcement to the running hub")
    sub.add_parser("discard", help="throw the draft away")
    return p


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def main(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(list(argv))
    settings = hub_settings.load()
    engine = open_engine(settings.database_url)
    try:
        store = CatalogueStore(engine)
        store.bootstrap()
        if ns.cmd == "list":
            for v in store.versions():
                when = v.published_at.isoformat(timespec="seconds") if v.published_at else "draft"
                print(f"v{v.version}\t{when}\t{v.items} items\t{v.published_by or v.created_by}\t{v.note}")
        elif ns.cmd == "export":
            text = store.export(ns.version, draft=ns.draft)
            if ns.output:
                ns.output.write_text(text, encoding="utf-8")
                print(f"wrote {ns.output}", file=sys.stderr)
            else:
                sys.stdout.write(text)
        elif ns.cmd == "import":
            try:
                data = ns.file.read_bytes()
            except OSError as exc:
                raise CatalogueError(f"cannot read {ns.file}: {exc.strerror}") from None
            version = store.import_catalogue(data, _actor(), ns.note or f"导入 {ns.file.name}")
            print(f"draft v{version} imported from {ns.file}; `shegong hub catalogue publish` to publish it")
        elif ns.cmd == "publish":
            info = store.publish(_actor(), ns.note)
            print(f"published v{info.version} ({info.items} items, {info.content_hash})")
            if not ns.no_announce:
                sent = announce_once(settings, info)
                print("announced to terminals" if sent else "broker not reachable: the running hub will announce it")
        elif ns.cmd == "discard":
            store.discard_draft(_actor())
            print("draft discarded")
    finally:
        engine.dispose()
    return 0
