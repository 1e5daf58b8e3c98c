"""``shegong hub …``: run ingest and web, migrate, users, the audit chain, the calendar, reports, dead letters,
the terminal register.

A thin layer: the work is in the domain packages; their errors become a message and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from hub import settings as hub_settings
from hub.audit.chain import Anchor, anchor, verify
from hub.db.engine import open_engine
from hub.db.models import DeadLetter, DeadLetterCountRow
from hub.errors import HubError
from hub.ingest.deadletters import purge as purge_dead_letters
from protocol.envelope import utcnow
from shegong.cli import stop_on_sigterm, wait_for_stop

__all__ = ["main"]

log = logging.getLogger(__name__)


class AuditBroken(HubError):
    """``audit verify`` found an entry that was edited, removed or reordered."""


class UsageError(HubError):
    """A command line that asks for something impossible."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shegong hub", description="The centre's hub.")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="ingest from the broker and serve the web UI and API until stopped")
    run.add_argument("--no-web", action="store_true", help="ingest only")
    sub.add_parser("migrate", help="bring the database schema to head")
    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    audit.add_argument(
        "action",
        choices=["verify", "anchor"],
        help="verify: walk the chain and name the first broken entry; anchor: print its length and head to keep",
    )
    audit.add_argument("--anchor", help="also check against an anchor printed earlier (entries:last_id:head)")
    user = sub.add_parser("user", help="back-office users: add, passwd, disable, enable, list")
    user.add_argument("action", choices=["add", "passwd", "disable", "enable", "list"], help="what to do")
    user.add_argument("username", nargs="?", help="the user's login name")
    user.add_argument("--role", choices=["manager", "clerk", "auditor", "operator"], help="for add")
    user.add_argument("--department", action="append", default=[], help="a clerk's department code (repeat)")
    user.add_argument("--display-name", default="", help="the name shown in the back office")
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not a prompt")
    cal = sub.add_parser("calendar", help="the holiday calendar due dates are counted on")
    cal.add_argument("action", choices=["list", "set", "remove"], help="list a year, set a day, remove a day")
    cal.add_argument("day", nargs="?", help="YYYY-MM-DD (set, remove) or a year (list)")
    cal.add_argument("kind", nargs="?", choices=["off", "work"], help="set: off = holiday, work = adjusted workday")
    cal.add_argument("name", nargs="?", help="set: the holiday's name")
    rep = sub.add_parser("report", help="the performance report over a period (JSON, or CSV with --csv)")
    rep.add_argument("--start", type=date.fromisoformat, help="first day (YYYY-MM-DD); default 30 days ago")
    rep.add_argument("--end", type=date.fromisoformat, help="last day (YYYY-MM-DD); default today")
    rep.add_argument("--department", help="one department's items only")
    rep.add_argument("--csv", type=Path, help="write CSV (UTF-8 with BOM) to this file")
    cat = sub.add_parser("catalogue", help="list, export, import and publish catalogue versions", add_help=False)
    cat.add_argument("rest", nargs=argparse.REMAINDER, help="see `shegong hub catalogue --help`")
    keys = sub.add_parser("keys", help="the case key: terminals seal cases to its public half")
    keys.add_argument(
        "action",
        choices=["init", "public"],
        help="init: make the key pair in case_key_file (once); public: print the public key for terminals",
    )
    dl = sub.add_parser("dead-letters", help="refused messages: the latest and why, counts per terminal, purge")
    dl.add_argument(
        "action",
        nargs="?",
        choices=["list", "counts", "purge"],
        default="list",
        help="list: the latest (JSON lines); counts: every refusal counted per terminal and reason, also those "
        "removed since; purge: remove those older than --older-than days",
    )
    dl.add_argument("--limit", type=int, default=50, help="list: how many, newest first")
    dl.add_argument("--older-than", type=float, metavar="DAYS", help="purge: remove dead letters older than this")
    term = sub.add_parser("terminal", help="the terminal register: the committee each terminal serves")
    term.add_argument(
        "action",
        choices=["register", "list", "remove"],
        help="register: set (or change) a terminal's committee, at provisioning; list: the register; remove: a "
        "retired terminal (the hub takes no more cases from it)",
    )
    term.add_argument("terminal", nargs="?", help="register, remove: the terminal id")
    term.add_argument("--committee", help="register: the committee code (its receipt numbers' prefix)")
    term.add_argument(
        "--committee-name", help="register: the committee's name, as the hub's pages show it (e.g. 某某居委会)"
    )
    _broker_parser(sub)
    return p


def _broker_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("broker", help="the MQTT broker's users, ACL and TLS files (Mosquitto; see docs/broker.md)")
    b.add_argument(
        "action",
        choices=["hub", "add", "revoke", "list", "acl", "tls", "conf"],
        help="hub: a hub user and the ACL; add/revoke: a terminal's user; list: the users; acl: write the ACL "
        "again (for NAME, or the hub users it names); tls: a CA (once) and a server certificate; conf: print "
        "the Mosquitto listener configuration",
    )
    b.add_argument("name", nargs="?", help="add, revoke: the terminal id; hub, acl: the hub's user (default hub)")
    b.add_argument("--dir", type=Path, help="where the broker's files live (default /etc/mosquitto/shegong)")
    b.add_argument("--host", action="append", default=[], help="tls: a name or address of the broker (repeat)")
    b.add_argument("--days", type=int, default=825, help="tls: how long the server certificate is valid")
    b.add_argument("--port", type=int, default=8883, help="conf: the TLS listener's port")
    b.add_argument("--bind", default="0.0.0.0", help="conf: the address the listener binds")


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files made meanwhile are the owner's alone (umask 077): the database and its WAL, keys, exports.

    They hold personal data or keys (DESIGN §6), so no file the hub makes starts readable by others; the
    old umask is back afterwards, for a caller in the same process (tests).
    """
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def main(argv: Sequence[str]) -> int:
    if list(argv[:1]) == ["catalogue"]:
        from hub.catalogue.cli import main as catalogue_main

        with private_files():
            return catalogue_main(list(argv[1:]))
    ns = _parser().parse_args(list(argv))
    if ns.cmd == "broker":
        # Mosquitto's files only, no hub settings or database; their modes are set one by one, as the broker
        # reads some of them as group mosquitto after dropping root (see hub.brokerauth).
        return _broker(ns)
    with private_files():
        return _main(ns)


def _main(ns: argparse.Namespace) -> int:
    settings = hub_settings.load()
    if ns.cmd == "run":
        return _run(settings, web=not ns.no_web)
    if ns.cmd == "keys":
        from hub import casekey

        path = Path(settings.case_key_file)
        if ns.action == "init":
            public = casekey.init(path)
            print(f"case key written to {path}; give terminals this public key (hub_public_key):", file=sys.stderr)
        else:
            public = casekey.public_text(casekey.load(path))
        print(public)
        return 0
    engine = open_engine(settings.database_url)
    try:
        if ns.cmd == "migrate":
            print("schema at head")
        elif ns.cmd == "audit":
            _audit(engine, ns)
        elif ns.cmd == "user":
            _user(engine, ns)
        elif ns.cmd == "calendar":
            _calendar(engine, ns)
        elif ns.cmd == "report":
            _report(engine, ns)
        elif ns.cmd == "dead-letters":
            _dead_letters(engine, ns)
        elif ns.cmd == "terminal":
            _terminal(engine, ns)
    finally:
        engine.dispose()
    return 0


def _run(settings: hub_settings.HubSettings, web: bool) -> int:
    from hub.runtime import HubRuntime

    stop = stop_on_sigterm()
    with HubRuntime(settings) as rt:
        rt.start()
        if web:
            from hub.web.app import serve

            serve(rt, stop)
        else:
            wait_for_stop(stop)
    return 0


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _jsonable(row: Mapping[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "payload"}


def _dead_letters(engine: Engine, ns: argparse.Namespace) -> None:
    if ns.action == "purge":
        if ns.older_than is None or ns.older_than < 0:
            raise UsageError("dead-letters purge needs --older-than DAYS (0 or more)")
        removed = purge_dead_letters(engine, utcnow() - timedelta(days=ns.older_than))
        print(f"{removed} dead letter(s) older than {ns.older_than:g} days removed; their counts stay")
        return
    if ns.action == "counts":
        t = DeadLetterCountRow.__table__
        query = select(t).order_by(t.c.terminal_id, t.c.reason)
    else:
        t = DeadLetter.__table__
        query = select(t).order_by(t.c.id.desc()).limit(ns.limit)
    with engine.connect() as conn:
        for r in conn.execute(query).mappings():
            print(json.dumps(_jsonable(r), ensure_ascii=False))


def _terminal(engine: Engine, ns: argparse.Namespace) -> None:
    from hub.ingest import register

    if ns.action == "list":
        from hub.ingest.committees import CommitteeNames

        named = CommitteeNames(engine).all()
        for e in register.entries(engine):
            name = named.get(e.committee, "")
            print(f"{e.terminal_id}\t{e.committee}\t{e.registered_at.isoformat()}\t{e.registered_by}\t{name}")
        return
    if not ns.terminal:
        raise UsageError(f"terminal {ns.action} needs a terminal id")
    if ns.action == "remove":
        register.remove(engine, ns.terminal, _actor())
        print(f"terminal {ns.terminal} removed from the register: the hub takes no more cases from it")
        return
    if not ns.committee:
        raise UsageError("terminal register needs --committee CODE")
    entry = register.register(engine, ns.terminal, ns.committee, _actor())
    print(f"terminal {entry.terminal_id} registered to committee {entry.committee}")
    if ns.committee_name:
        from hub.ingest import committees

        committees.set_name(engine, entry.committee, ns.committee_name, _actor())
        print(f"committee {entry.committee} is named {ns.committee_name.strip()}")
    if entry.others:
        print(
            f"note: {', '.join(entry.others)} serve(s) {entry.committee} too. Receipt numbers are made per terminal "
            "(committee-date-sequence), and the hub refuses a case whose receipt number another case of the "
            "committee holds: terminals of one committee would collide on the same day.",
            file=sys.stderr,
        )


def _audit(engine: Engine, ns: argparse.Namespace) -> None:
    with engine.connect() as conn:
        if ns.action == "anchor":
            print(anchor(conn))
            return
        try:
            expected = Anchor.parse(ns.anchor) if ns.anchor else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        checked, broken = verify(conn, expected=expected)
    if broken:
        raise AuditBroken(
            f"audit chain broken at entry {broken.entry_id}: {broken.problem} ({checked} entries before it hold)"
        )
    print(f"audit chain intact: {checked} entries")


def _password(ns: argparse.Namespace) -> str:
    if ns.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def _user(engine: Engine, ns: argparse.Namespace) -> None:
    from hub.catalogue.in_force import catalogue_in_force
    from hub.people.service import Users

    users = Users(engine, lambda: [d.code for d in catalogue_in_force(engine).departments])
    if ns.action == "list":
        for u in users.all():
            depts = ",".join(u.departments)
            print(f"{u.username}\t{u.role}\t{depts}\t{'disabled' if u.disabled else 'active'}\t{u.display_name}")
        return
    if not ns.username:
        raise UsageError(f"user {ns.action} needs a user name")
    if ns.action == "add":
        if not ns.role:
            raise UsageError("user add needs --role")
        users.add(ns.username, _password(ns), ns.role, ns.department, ns.display_name, actor=_actor())
        print(f"user {ns.username} added ({ns.role})")
    elif ns.action == "passwd":
        users.set_password(ns.username, _password(ns), actor=_actor())
        print(f"password of {ns.username} changed")
    elif ns.action == "disable":
        users.disable(ns.username, actor=_actor())
        print(f"user {ns.username} disabled; their sessions end at their next request")
    elif ns.action == "enable":
        users.enable(ns.username, actor=_actor())
        print(f"user {ns.username} enabled")


def _calendar(engine: Engine, ns: argparse.Namespace) -> None:
    from hub.calendar.service import CalendarService

    svc = CalendarService(engine)
    try:
        if ns.action == "list":
            year = int(ns.day) if ns.day else None
            for d in svc.days(year):
                print(f"{d.day}\t{d.kind}\t{d.name}\t{d.updated_by}")
            return
        if not ns.day:
            raise UsageError(f"calendar {ns.action} needs a day (YYYY-MM-DD)")
        day = date.fromisoformat(ns.day)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if ns.action == "set":
        if not (ns.kind and ns.name):
            raise UsageError("calendar set DAY off|work NAME")
        saved = svc.set_day(day, ns.kind, ns.name, _actor())
        print(f"{day}: {ns.kind} ({ns.name}); due dates of {saved.recounted} open case(s) counted again")
    else:
        recounted = svc.remove_day(day, _actor())
        print(f"{day}: an ordinary day again; due dates of {recounted} open case(s) counted again")


def _report(engine: Engine, ns: argparse.Namespace) -> None:
    from hub.reports.export import to_csv
    from hub.reports.service import Period, build

    default = Period.last_days(30)
    try:
        period = Period(ns.start or default.start, ns.end or default.end)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    report = build(engine, period, [ns.department] if ns.department else None)  # named by the catalogue in force
    if ns.csv:
        ns.csv.write_text(to_csv(report), encoding="utf-8")
        print(f"report {period.start}..{period.end} written to {ns.csv}")
    else:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))


def _broker(ns: argparse.Namespace) -> int:
    from hub import brokerauth
    from shegong.broker import TUNING, listener_config

    files = brokerauth.BrokerFiles(ns.dir or brokerauth.DEFAULT_DIR)
    reload_hint = "reload the broker to apply it: systemctl reload mosquitto"
    if ns.action in {"add", "revoke"} and not ns.name:
        raise UsageError(f"broker {ns.action} needs a terminal id")
    if ns.action == "hub":
        user = ns.name or brokerauth.HUB_USER
        password = brokerauth.add_hub(files, user)
        print(
            f"hub user {user} added and ACL written to {files.acl_file}; {reload_hint}. In the hub's settings: "
            f'broker_username = "{user}", broker_tls_ca = "{files.ca_cert}", broker_password = this (shown once):',
            file=sys.stderr,
        )
        print(password)
    elif ns.action == "add":
        password = brokerauth.add_terminal(files, ns.name)
        print(
            f'terminal {ns.name} added; {reload_hint}. In its edge settings: broker_username = "{ns.name}", '
            f"broker_tls_ca = a copy of {files.ca_cert}, broker_password = this (it is shown once):",
            file=sys.stderr,
        )
        print(password)
    elif ns.action == "revoke":
        brokerauth.revoke(files, ns.name)
        print(f"terminal {ns.name} revoked; {reload_hint} (its open connection is closed then)")
    elif ns.action == "list":
        for user in brokerauth.users(files):
            print(user)
    elif ns.action == "acl":
        hubs = [ns.name] if ns.name else brokerauth.hub_users(files) or [brokerauth.HUB_USER]
        print(f"ACL written to {brokerauth.write_acl(files, hubs)} for hub user(s) {', '.join(hubs)}; {reload_hint}")
    elif ns.action == "tls":
        tls = brokerauth.make_tls(files, ns.host, ns.days)
        print(f"server certificate {tls.certfile} for {', '.join(ns.host)}; terminals and the hub trust {tls.cafile}")
    else:
        print("# /etc/mosquitto/conf.d/shegong.conf (printed by `shegong hub broker conf`)")
        print(listener_config(ns.port, ns.bind, files.auth(), files.tls()) + TUNING, end="")
    return 0
