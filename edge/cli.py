"""``shegong edge …``: run a terminal, submit cases without the kiosk, inspect and repair the outbox,
verify the audit chain, purge what the retention window allows."""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence

from edge import settings as edge_settings
from edge.errors import EdgeError
from edge.night.control import serve_control
from edge.runtime import EdgeRuntime
from edge.store import audit
from edge.store.cases import NewCase
from protocol.auditchain import Anchor
from protocol.cases import Applicant
from protocol.idnumber import birth_date, mask, sex
from shegong.cli import stop_on_sigterm, wait_for_stop

__all__ = ["main"]

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong edge", description="The committee terminal.")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the sync agent (and the kiosk, when installed) until stopped")
    run.add_argument("--no-kiosk", action="store_true", help="only the sync agent")
    s = sub.add_parser("submit", help="accept a case as the kiosk would (receipt printed to stdout as JSON)")
    s.add_argument("--item", required=True, help="catalogue item code")
    s.add_argument("--id-number", required=True, help="the applicant's ID number (validated)")
    s.add_argument("--name", required=True, help="the applicant's name")
    s.add_argument("--field", action="append", default=[], metavar="KEY=VALUE", help="a form field (repeatable)")
    s.add_argument("--agent", help="staff id when submitting on a resident's behalf (代办)")
    s.add_argument("--count", type=int, default=1, help="submit this many identical cases (tests, benchmarks)")
    sub.add_parser("outbox", help="outbox depth, oldest unsent item, parked items, alarms (JSON)")
    sub.add_parser("unpark", help="put items the hub refused back in the send loop, after fixing the cause")
    au = sub.add_parser("audit", help="the terminal's tamper-evident audit trail")
    au.add_argument(
        "action",
        choices=["verify", "anchor"],
        help="verify: walk the chain and name the first broken entry; anchor: print its length and head (JSON)",
    )
    au.add_argument("--anchor", help="also check against an anchor printed earlier (its JSON, or entries:last_id:head)")
    purge = sub.add_parser("purge", help="purge acked, closed cases and ratings past the retention window")
    purge.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    sub.add_parser("nightly", help="run every overnight step once; JSON summary; exit 1 when a step failed")
    restore = sub.add_parser("restore", help="write a nightly backup over the database (terminal stopped)")
    restore.add_argument("backup", nargs="?", help="the backup file (default: the newest)")
    reader = sub.add_parser("reader", help="card reader tools (see `shegong edge reader --help`)", add_help=False)
    reader.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: Sequence[str]) -> int:
    # Every file the terminal makes (database, its -wal/-shm, keys, the kiosk's secret, logs) is the
    # terminal user's alone: set before anything is opened, inherited by whatever it starts.
    os.umask(0o077)
    args = list(argv)
    if args[:1] == ["reader"]:
        from edge.devices.cli import main as devices_main

        return devices_main(args)
    ns = _parser().parse_args(args)
    settings = edge_settings.load()
    if ns.cmd == "run":
        return _run(settings, kiosk=not ns.no_kiosk)
    if ns.cmd in ("nightly", "restore"):
        from edge.night.cli import main as night_main

        return night_main(settings, ns)
    with EdgeRuntime(settings) as rt:
        if ns.cmd == "submit":
            fields = dict(f.split("=", 1) for f in ns.field)
            applicant = Applicant(
                id_number=ns.id_number.upper(),
                name=ns.name,
                sex=sex(ns.id_number),
                birth_date=birth_date(ns.id_number),
            )
            for _ in range(ns.count):
                case = rt.cases.submit(NewCase(item_code=ns.item, applicant=applicant, form=fields, agent=ns.agent))
                print(
                    json.dumps(
                        {
                            "case_id": str(case.case_id),
                            "receipt_no": case.receipt_no,
                            "query_code": case.query_code,
                            "applicant": mask(case.applicant.id_number),
                        },
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
        elif ns.cmd == "outbox":
            st = rt.outbox.stats()
            print(
                json.dumps(
                    {
                        "depth": st.depth,
                        "oldest_unsent_at": st.oldest_unsent_at.isoformat() if st.oldest_unsent_at else None,
                        "parked": st.parked,
                        "alarms": rt.alarms.active(),
                    },
                    ensure_ascii=False,
                )
            )
        elif ns.cmd == "unpark":
            print(f"{rt.outbox.unpark()} item(s) back in the send loop")
        elif ns.cmd == "audit":
            _audit(rt, ns)
        elif ns.cmd == "purge":
            counts = rt.retention.purge(dry_run=ns.dry_run)
            print(
                json.dumps(
                    {
                        "dry_run": ns.dry_run,
                        "retention_days": settings.retention_days,
                        "cases": counts.cases,
                        "case_events": counts.case_events,
                        "ratings": counts.ratings,
                    }
                )
            )
    return 0


def _audit(rt: EdgeRuntime, ns: argparse.Namespace) -> None:
    with rt.engine.connect() as conn:
        if ns.action == "anchor":
            print(json.dumps(audit.anchor(conn).as_dict()))
            return
        try:
            expected = Anchor.parse(ns.anchor) if ns.anchor else None
        except ValueError as exc:
            raise EdgeError(str(exc)) from None
        checked, broken = audit.verify(conn, expected=expected)
    if broken:
        raise audit.AuditBroken(
            f"audit chain broken at entry {broken.entry_id}: {broken.problem} ({checked} entries before it hold)"
        )
    print(f"audit chain ok: {checked} entries")


def _run(settings: edge_settings.EdgeSettings, kiosk: bool) -> int:
    stop = stop_on_sigterm()
    with EdgeRuntime(settings) as rt:
        rt.cases.sealer()  # no hub key, no sealed cases: refuse to start rather than refuse every resident
        rt.start_sync()
        serve_control(rt)  # `shegong edge nightly` runs the night in here, on this agent's link
        if kiosk:
            try:
                from edge.kiosk.server import serve
            except ImportError:
                log.warning("kiosk not installed here; running the sync agent only")
            else:
                serve(rt, stop)
                return 0
        wait_for_stop(stop)
    return 0
