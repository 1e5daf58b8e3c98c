"""``shegong edge …``: run a terminal, submit cases without the kiosk, inspect and repair the outbox."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from edge import settings as edge_settings
from edge.runtime import EdgeRuntime
from edge.store.cases import NewCase
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
    reader = sub.add_parser("reader", help="card reader tools (see `shegong edge reader --help`)", add_help=False)
    reader.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["reader"]:
        from edge.devices.cli import main as devices_main

        return devices_main(args)
    ns = _parser().parse_args(args)
    settings = edge_settings.load()
    if ns.cmd == "run":
        return _run(settings, kiosk=not ns.no_kiosk)
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
    return 0


def _run(settings: edge_settings.EdgeSettings, kiosk: bool) -> int:
    stop = stop_on_sigterm()
    with EdgeRuntime(settings) as rt:
        rt.start_sync()
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
