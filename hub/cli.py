"""``shegong hub …``: run ingest and web, migrate, verify the audit chain, list dead letters."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Sequence

from sqlalchemy import select

from hub import settings as hub_settings
from hub.audit.chain import verify
from hub.db.engine import open_engine
from hub.db.models import DeadLetter
from hub.errors import HubError

__all__ = ["main"]

log = logging.getLogger(__name__)


class AuditBroken(HubError):
    """``audit verify`` found an entry that was edited, removed or reordered."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong hub", description="The centre's hub.")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="ingest from the broker and serve the web UI and API until stopped")
    run.add_argument("--no-web", action="store_true", help="ingest only")
    sub.add_parser("migrate", help="bring the database schema to head")
    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    audit.add_argument("action", choices=["verify"], help="walk the chain and name the first broken entry")
    dl = sub.add_parser("dead-letters", help="the latest refused messages and why (JSON lines)")
    dl.add_argument("--limit", type=int, default=50)
    return p


def main(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(list(argv))
    settings = hub_settings.load()
    if ns.cmd == "run":
        return _run(settings, web=not ns.no_web)
    engine = open_engine(settings.database_url)
    try:
        if ns.cmd == "migrate":
            print("schema at head")
        elif ns.cmd == "audit":
            with engine.connect() as conn:
                checked, broken = verify(conn)
            if broken:
                raise AuditBroken(
                    f"audit chain broken at entry {broken.entry_id}: {broken.problem} ({checked} entries before it hold)"
                )
            print(f"audit chain intact: {checked} entries")
        elif ns.cmd == "dead-letters":
            t = DeadLetter.__table__
            with engine.connect() as conn:
                rows = conn.execute(select(t).order_by(t.c.id.desc()).limit(ns.limit)).mappings().all()
            for r in rows:
                print(
                    json.dumps(
                        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items() if k != "payload"},
                        ensure_ascii=False,
                    )
                )
    finally:
        engine.dispose()
    return 0


def _run(settings: hub_settings.HubSettings, web: bool) -> int:
    from hub.runtime import HubRuntime

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with HubRuntime(settings) as rt:
        rt.start()
        if web:
            from hub.web.app import serve

            serve(rt, stop)
        else:
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
    return 0
