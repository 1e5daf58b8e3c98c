"""``shegong hub …``: run ingest and web, migrate, users, the audit chain, the calendar, reports, dead letters,
the terminal register.

A thin layer: the work is in the domain packages; their errors become a message and exit code 2.
"""

from __future__ import annotations

import gc
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click

from hub.errors import HubError
from kernel.cli import LazyGroup
from kernel.cli import run as run_cli
from kernel.process import private_files, stop_on_sigterm, wait_for_stop
from protocol.auditchain import AuditBroken
from protocol.envelope import utcnow
from protocol.localtime import local_date

if TYPE_CHECKING:
    from sqlalchemy import Engine, RowMapping

    from hub.broker.auth import BrokerFiles
    from hub.settings import HubSettings

__all__ = ["AuditBroken", "hub", "main"]

log = logging.getLogger(__name__)


class UsageError(HubError):
    """A command line that asks for something impossible."""


@click.group(
    cls=LazyGroup,
    lazy_subcommands={
        "catalogue": ("hub.catalogue.cli:catalogue", "list, export, import and publish catalogue versions"),
    },
)
@click.pass_context
def hub(ctx: click.Context) -> None:
    """The centre's hub."""
    # Mosquitto's files are made with their own modes, one by one, as the broker reads some of them as group
    # mosquitto after dropping root (see hub.broker.auth); everything else the hub makes is private.
    if ctx.invoked_subcommand != "broker":
        ctx.with_resource(private_files())


def main(argv: Sequence[str]) -> int:
    """``shegong hub ARGV`` in this process; the hub's errors propagate (the root reports them)."""
    return run_cli(hub, argv, "shegong hub")


def _on_engine(handler: Callable[[Engine, SimpleNamespace], None], **params: Any) -> int:
    """Run ``handler`` on the hub's database (brought to head first) with the command's parameters."""
    _settings, engine = _open()
    try:
        handler(engine, SimpleNamespace(**params))
    finally:
        engine.dispose()
    return 0


def _open() -> tuple[HubSettings, Engine]:
    """The hub's settings and its database, brought to head, audit entries sealed as they are appended.
    The settings and database layers are imported here, not with this module: ``shegong hub broker``
    (Mosquitto's files only, run by provisioning several times per terminal) starts in a fraction of the
    time without them."""
    from hub import settings as hub_settings
    from hub.audit.chain import bind_key_file
    from hub.audit.keyed import key_path
    from hub.db.engine import open_engine

    settings = hub_settings.load()
    engine = open_engine(settings.database_url)
    bind_key_file(engine, key_path(settings))
    return settings, engine


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@hub.command()
@click.option("--no-web", is_flag=True, help="ingest only")
def run(no_web: bool) -> int:
    """Ingest from the broker and serve the web UI and API until stopped."""
    from hub import settings as hub_settings

    return _run(hub_settings.load(), web=not no_web)


@hub.command()
def migrate() -> int:
    """Bring the database schema to head."""
    return _on_engine(lambda _engine, _ns: print("schema at head"))


@hub.command("audit")
@click.argument("action", type=click.Choice(["verify", "anchor"]))
@click.option("--anchor", help="also check against an anchor printed earlier (entries:last_id:head)")
@click.option(
    "--witnesses",
    is_flag=True,
    help="verify: also the seals (audit key) and the daily anchors the terminals witnessed, asked of them "
    "live over MQTT; names the days where the chain disagrees and the terminals that answered",
)
@click.option(
    "--timeout",
    type=float,
    default=15.0,
    show_default=True,
    help="verify --witnesses: seconds to wait for the terminals' answers",
)
@click.option(
    "--stored",
    is_flag=True,
    help="verify --witnesses: use the anchors the terminals' nightly segments brought up, not live answers",
)
def audit_command(**params: Any) -> int:
    """The tamper-evident audit trail.

    ACTION verify: walk the chain and name the first broken entry; anchor: print its length and head to keep.
    """
    return _on_engine(_audit, **params)


@hub.command()
@click.argument("action", type=click.Choice(["add", "passwd", "disable", "enable", "list"]))
@click.argument("username", required=False)
@click.option("--role", type=click.Choice(["manager", "clerk", "auditor", "operator"]), help="for add")
@click.option("--department", multiple=True, help="a clerk's department code (repeat)")
@click.option("--display-name", default="", help="the name shown in the back office")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin, not a prompt")
def user(department: tuple[str, ...], **params: Any) -> int:
    """Back-office users: add, passwd, disable, enable, list (USERNAME: the user's login name)."""
    return _on_engine(_user, department=list(department), **params)


@hub.command()
@click.argument("action", type=click.Choice(["add", "list", "revoke"]))
@click.argument("name", required=False)
def partner(**params: Any) -> int:
    """Partner systems on Open311 (the 12345 hotline): add, list, revoke.

    NAME: the partner's name. add prints the partner's new API key once (only its hash is kept); revoke
    stops the key at once (the requests it made stay cases).
    """
    return _on_engine(_partner, **params)


@hub.command()
@click.argument("action", type=click.Choice(["list", "set", "remove", "complete"]))
@click.argument("day", required=False)
@click.argument("kind", required=False, type=click.Choice(["off", "work"]))
@click.argument("name", required=False)
def calendar(**params: Any) -> int:
    """The holiday calendar due dates are counted on.

    ACTION list a year, set a day, remove a day, or say a year's arrangement is complete (its dates stop
    being tentative; the terminals get its days). DAY: YYYY-MM-DD (set, remove) or a year (list, complete);
    set also takes a run of days, FIRST..LAST (2027-10-01..2027-10-07). KIND (set): off = holiday, work =
    adjusted workday. NAME (set): the holiday's name.
    """
    return _on_engine(_calendar, **params)


@hub.command()
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="first day (YYYY-MM-DD); default 30 days ago")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="last day (YYYY-MM-DD); default today")
@click.option("--department", help="one department's items only")
@click.option("--csv", type=click.Path(dir_okay=False, path_type=Path), help="write CSV (UTF-8 with BOM) to this file")
def report(start: datetime | None, end: datetime | None, **params: Any) -> int:
    """The performance report over a period (JSON, or CSV with --csv)."""
    return _on_engine(_report, start=_day(start), end=_day(end), **params)


@hub.command()
@click.argument("action", type=click.Choice(["init", "public", "audit-public", "backup-init"]))
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="backup-init: the file for the backup private key (made 0600, never overwritten)",
)
def keys(action: str, out: Path | None) -> int:
    """The hub's keys: terminals seal cases to the case key's public half and check the signed daily audit
    anchors with the audit key's; backups are encrypted to the backup key's public half.

    ACTION init: make the case key pair in case_key_file and the audit key beside it (once; prints the case
    key's public half); public: print the case key's public half (terminals' hub_public_key); audit-public:
    print the audit key's public half (terminals' hub_audit_public_key); backup-init --out FILE: make a backup
    key pair, the private half in FILE, to keep offline (`shegong hub restore --key FILE` needs it), and print
    the public half (the hub's backup_public_key).
    """
    if (action == "backup-init") != (out is not None):
        raise UsageError("--out FILE goes with backup-init, and only with it")
    if out is not None:
        from hub.night.backup import make_backup_key

        public = make_backup_key(out)
        print(
            f"backup private key written to {out}: keep it offline, not on the hub (whoever holds it can read every "
            "backup); set the hub's backup_public_key to:",
            file=sys.stderr,
        )
        print(public)
        return 0

    from hub import casekey
    from hub import settings as hub_settings
    from hub.audit.keyed import AuditKey, key_path

    settings = hub_settings.load()
    path = Path(settings.case_key_file)
    if action == "audit-public":
        print(AuditKey.load(key_path(settings)).public_hex)
        return 0
    if action == "init":
        made_audit = not key_path(settings).exists()
        if made_audit:  # also for a hub whose case key came before the audit key
            AuditKey.init(key_path(settings))  # beside the case key: seals the audit chain, signs anchors
            print(
                f"audit key written to {key_path(settings)}; give terminals its public half (hub_audit_public_key):"
                " `shegong hub keys audit-public` prints it",
                file=sys.stderr,
            )
        if made_audit and path.exists():  # an upgraded hub: its case key stays, and the step succeeded
            public = casekey.public_text(casekey.load(path))
            print(f"case key kept at {path}; its public key (hub_public_key):", file=sys.stderr)
        else:
            public = casekey.init(path)
            print(f"case key written to {path}; give terminals this public key (hub_public_key):", file=sys.stderr)
    else:
        public = casekey.public_text(casekey.load(path))
    print(public)
    return 0


@hub.command("archive-open")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="the backup private key file (`shegong hub keys backup-init --out FILE`), which the archive is sealed to",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="where the archive's gzip JSON lines go (made 0600, never overwritten)",
)
def archive_open(archive: Path, key_file: Path, out: Path) -> int:
    """Read a file of the retention archive (archive_dir, *.jsonl.gz.sealed): anonymised cases whole, one per
    line, with their ratings, steps and return calls. Its signature is checked against this hub's audit key
    first. What it writes is residents' personal data: keep it as the key is kept."""
    from hub import settings as hub_settings
    from hub.night.steps import backups

    backups(hub_settings.load()).open_file(archive, key_file, out)
    print(f"{archive.name} opened into {out} (gzip JSON lines)", file=sys.stderr)
    return 0


@hub.command()
def nightly() -> int:
    """Run every overnight step once; JSON summary; exit 1 when a step failed."""
    return _night("nightly")


@hub.command()
def backup() -> int:
    """Back the database up now (SQLite copy or pg_dump), checked, encrypted to backup_public_key."""
    return _night("backup")


@hub.command()
@click.argument("backup_file", metavar="BACKUP", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="the backup private key file (`shegong hub keys backup-init --out FILE`), for an encrypted backup",
)
@click.option(
    "--unsigned",
    is_flag=True,
    help="take a backup without the hub's signature (in clear, or encrypted before backups were signed): "
    "nothing shows who made it",
)
def restore(backup_file: Path, key_file: Path | None, unsigned: bool) -> int:
    """Write a backup over the database (the hub stopped). BACKUP: the backup file; an encrypted one is
    opened with --key, its signature checked against this hub's audit key, whole, before the database is
    touched."""
    from hub import settings as hub_settings
    from hub.night import cli as night_cli

    # Not through _open(): the database being replaced may be the broken one, and migrating it would fail.
    return night_cli.restore(hub_settings.load(), backup_file, key_file, _actor(), unsigned)


def _night(cmd: str, **params: Any) -> int:
    from hub.night import cli as night_cli

    settings, engine = _open()
    try:
        return night_cli.main(engine, settings, SimpleNamespace(cmd=cmd, **params))
    finally:
        engine.dispose()


@hub.command("dead-letters")
@click.argument("action", required=False, default="list", type=click.Choice(["list", "counts", "purge"]))
@click.option("--limit", type=int, default=50, show_default=True, help="list: how many, newest first")
@click.option("--older-than", type=float, metavar="DAYS", help="purge: remove dead letters older than this")
def dead_letters(**params: Any) -> int:
    """Refused messages: the latest and why, counts per terminal, purge.

    ACTION list: the latest (JSON lines); counts: every refusal counted per terminal and reason, also those
    removed since; purge: remove those older than --older-than days.
    """
    return _on_engine(_dead_letters, **params)


@hub.command()
@click.argument("action", type=click.Choice(["register", "list", "remove", "retire"]))
@click.argument("terminal", required=False)
@click.option("--committee", help="register: the committee code (its receipt numbers' prefix)")
@click.option(
    "--series",
    type=int,
    help="register: the terminal's receipt series, 1-9, its own within the committee (the terminal's "
    "receipt_series setting): terminals of one committee then never make the same receipt number",
)
@click.option("--committee-name", help="register: the committee's name, as the hub's pages show it (e.g. 某某居委会)")
@click.option(
    "--audit-key",
    help="register: the public half of the terminal's audit signing key (`shegong edge keys public` on it); "
    "the hub checks the terminal's audit chain with it",
)
def terminal(**params: Any) -> int:
    """The terminal register: the committee each terminal serves.

    ACTION register: set (or change) a terminal's committee, at provisioning; list: the register; remove: out
    of the register (the hub takes no more cases from it); retire: out of the register and shown retired on
    the fleet dashboard, its alerts cleared and no more raised (`shegong provision retire` runs it).
    TERMINAL (register, remove, retire): the terminal id.
    """
    return _on_engine(_terminal, **params)


@hub.command()
@click.argument(
    "action", type=click.Choice(["hub", "tool", "add", "revoke", "list", "acl", "tls", "conf", "serve-auth"])
)
@click.argument("name", required=False)
@click.option(
    "--dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the broker's files live (default /etc/mosquitto/shegong)",
)
@click.option("--host", multiple=True, help="tls: a name or address of the broker (repeat)")
@click.option("--days", type=int, default=825, show_default=True, help="tls: how long the server certificate is valid")
@click.option("--port", type=int, help="conf: the TLS listener's port (8883); serve-auth: the HTTP port (8089)")
@click.option("--bind", help="conf: the address the listener binds (0.0.0.0); serve-auth: the address (127.0.0.1)")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="serve-auth: answer only requests whose X-Shegong-Broker-Secret header holds this file's text",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="add: the terminal's password read from standard input, not made anew (provisioning puts back the one a "
    "terminal still holds when a rotate could not give it the new one)",
)
@click.option(
    "--stdout",
    is_flag=True,
    help="acl: print the ACL instead of writing it (provisioning compares it with the file, to bring an upgraded "
    "broker's ACL up to the release)",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="serve-auth: serve HTTPS with this")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="serve-auth: the key of --tls-cert")
@click.option(
    "--client-ca",
    type=click.Path(dir_okay=False, exists=True),
    help="serve-auth: with --tls-cert, admit only brokers with a client certificate this CA signed",
)
def broker(host: tuple[str, ...], **params: Any) -> int:
    """The MQTT broker's users, ACL and TLS files (Mosquitto; see docs/broker.md).

    ACTION hub: a hub user (one per ingest worker) and the ACL; tool: the user of the hub's tools (`hub audit
    verify --witnesses`) and the ACL; add/revoke: a terminal's user; list: the users; acl: write the ACL again
    (for NAME, or the hub users it names, with its tool users); tls: a CA (once) and a server certificate;
    conf: print the Mosquitto listener configuration; serve-auth: answer EMQX's or VerneMQ's HTTP
    authentication and authorisation calls from these same files until stopped (docs/scale.md). NAME (add,
    revoke): the terminal id; (hub, acl): the hub's user (default hub); (tool): the tools' (default hub-tools).
    """
    # Mosquitto's files only, no hub settings or database.
    return _broker(SimpleNamespace(host=list(host), **params))


def _run(settings: HubSettings, web: bool) -> int:
    from hub.runtime import HubRuntime

    stop = stop_on_sigterm()
    with HubRuntime(settings) as rt:
        # What start-up built lives as long as the process: frozen, the full collections that ingest's
        # allocations set off no longer walk it (measured: about a tenth of ingest's CPU per case).
        gc.collect()
        gc.freeze()
        rt.start()
        if web:
            from hub.web.app import serve

            serve(rt, stop)
        else:
            wait_for_stop(stop)
    return 0


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _jsonable(row: RowMapping) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "payload"}


def _dead_letters(engine: Engine, ns: SimpleNamespace) -> None:
    from sqlalchemy import select

    from hub.db.models import DeadLetter, DeadLetterCountRow, table
    from hub.ingest.deadletters import purge as purge_dead_letters

    if ns.action == "purge":
        if ns.older_than is None or ns.older_than < 0:
            raise UsageError("dead-letters purge needs --older-than DAYS (0 or more)")
        removed = purge_dead_letters(engine, utcnow() - timedelta(days=ns.older_than))
        print(f"{removed} dead letter(s) older than {ns.older_than:g} days removed; their counts stay")
        return
    if ns.action == "counts":
        t = table(DeadLetterCountRow)
        query = select(t).order_by(t.c.terminal_id, t.c.reason)
    else:
        t = table(DeadLetter)
        query = select(t).order_by(t.c.id.desc()).limit(ns.limit)
    with engine.connect() as conn:
        for r in conn.execute(query).mappings():
            print(json.dumps(_jsonable(r), ensure_ascii=False))


def _terminal_audit_key(engine: Engine, terminal: str, public_key: str) -> None:
    import re

    from hub.night.witness import register_key

    if not re.fullmatch(r"[0-9a-f]{64}", public_key.strip()):
        raise UsageError("--audit-key: 64 hex digits, as `shegong edge keys public` prints it")
    with engine.begin() as conn:
        register_key(conn, terminal, public_key.strip(), "provisioning", utcnow(), _actor())
    print(f"terminal {terminal}: its audit chain is checked with key {public_key.strip()[:16]}…")


def _terminal(engine: Engine, ns: SimpleNamespace) -> None:
    from hub.ingest import register

    if ns.action == "list":
        from hub.ingest.committees import CommitteeNames

        named = CommitteeNames(engine).all()
        for e in register.entries(engine):
            series = "" if e.series is None else e.series
            name = named.get(e.committee, "")
            print(f"{e.terminal_id}\t{e.committee}\t{series}\t{e.registered_at.isoformat()}\t{e.registered_by}\t{name}")
        return
    if not ns.terminal:
        raise UsageError(f"terminal {ns.action} needs a terminal id")
    if ns.action == "remove":
        register.remove(engine, ns.terminal, _actor())
        print(f"terminal {ns.terminal} removed from the register: the hub takes no more cases from it")
        return
    if ns.action == "retire":
        _retire(engine, ns.terminal)
        return
    if not ns.committee:
        raise UsageError("terminal register needs --committee CODE")
    entry = register.register(engine, ns.terminal, ns.committee, _actor(), ns.series)
    from hub.fleet.registry import unretire

    with engine.begin() as conn:
        if unretire(conn, ns.terminal, utcnow()):
            print(f"terminal {ns.terminal} was retired: the fleet dashboard assesses it again")
    series = "" if entry.series is None else f", receipt series {entry.series} (edge setting receipt_series)"
    print(f"terminal {entry.terminal_id} registered to committee {entry.committee}{series}")
    if ns.audit_key:
        _terminal_audit_key(engine, ns.terminal, ns.audit_key)
    if ns.committee_name:
        from hub.ingest import committees

        committees.set_name(engine, entry.committee, ns.committee_name, _actor())
        print(f"committee {entry.committee} is named {ns.committee_name.strip()}")
    if entry.clashes:
        print(
            f"note: {', '.join(entry.clashes)} serve(s) {entry.committee} too, without a receipt series. Receipt "
            "numbers are made per terminal (committee-date-sequence), and the hub gives a number of its own to a "
            "case whose printed number another case of the committee holds, which confuses residents and staff: "
            "give each terminal of the committee its own series (--series N here, receipt_series in its settings).",
            file=sys.stderr,
        )


def _retire(engine: Engine, terminal: str) -> None:
    """Out of the register (if in it) and retired on the fleet dashboard; audited. Retiring twice is fine."""
    from hub.audit.chain import AuditRecord, append
    from hub.fleet.registry import retire
    from hub.ingest import register

    with engine.connect() as conn:
        registered = register.committee_of(conn, terminal) is not None
    if registered:
        register.remove(engine, terminal, _actor())
    now = utcnow()
    with engine.begin() as conn:
        cleared = retire(conn, terminal, now)
        append(conn, [AuditRecord(now, _actor(), "terminal.retired", terminal, {"alerts_cleared": cleared})])
    print(f"terminal {terminal} retired: out of the register, shown retired on the fleet dashboard, no alerts")


def _audit(engine: Engine, ns: SimpleNamespace) -> None:
    from hub import settings as hub_settings
    from hub.audit.chain import Anchor, anchor, verify

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
    if ns.witnesses:
        from hub.night import cli as night_cli

        print(night_cli.verify_keyed(engine, hub_settings.load(), None if ns.stored else ns.timeout))


def _password(ns: SimpleNamespace) -> str:
    if ns.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def _user(engine: Engine, ns: SimpleNamespace) -> None:
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


def _partner(engine: Engine, ns: SimpleNamespace) -> None:
    from hub.open311.partners import Partners

    partners = Partners(engine)
    if ns.action == "list":
        for p in partners.list():
            state = f"revoked {p.revoked_at:%Y-%m-%d %H:%M}" if p.revoked_at else "active"
            refused = (
                f"\trefused {p.refused} over its limit (last {p.last_refused_at:%Y-%m-%d %H:%M})" if p.refused else ""
            )
            print(f"{p.name}\t{p.key_id}\t{p.created_at:%Y-%m-%d %H:%M}\t{state}{refused}")
        return
    if not ns.name:
        raise UsageError(f"partner {ns.action} needs a partner name")
    if ns.action == "add":
        added, key = partners.add(ns.name, actor=_actor())
        print(f"partner {added.name} added; its API key (shown once, keep it safe):")
        print(key)
    else:
        partners.revoke(ns.name, actor=_actor())
        print(f"partner {ns.name} revoked: its key opens nothing from now on")


def _calendar(engine: Engine, ns: SimpleNamespace) -> None:
    from hub.calendar.service import CalendarService

    svc = CalendarService(engine)
    try:
        if ns.action == "list":
            year = int(ns.day) if ns.day else None
            for d in svc.days(year):
                print(f"{d.day}\t{d.kind}\t{d.name}\t{d.updated_by}")
            for gap in svc.gaps(local_date(utcnow())):  # as the pages ask for it
                print(
                    f"{gap.year}: holiday arrangement not complete; its due dates are tentative "
                    f"({gap.open_cases} open case(s) due then): shegong hub calendar set FIRST..LAST off NAME, "
                    f"then shegong hub calendar complete {gap.year}",
                    file=sys.stderr,
                )
            return
        if ns.action == "complete":
            if not (ns.day or "").isdigit():
                raise UsageError("calendar complete YEAR")
            done = svc.complete_year(int(ns.day), _actor())
            print(f"{ns.day}: arrangement complete" + ("" if done else " (already)"))
            return
        if not ns.day:
            raise UsageError(f"calendar {ns.action} needs a day (YYYY-MM-DD)")
        first, _, to = ns.day.partition("..")  # set: a run of days, FIRST..LAST
        if to and ns.action != "set":
            raise UsageError(f"calendar {ns.action} takes one day")
        day = date.fromisoformat(first)
        last = date.fromisoformat(to) if to else day
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if ns.action == "set":
        if not (ns.kind and ns.name):
            raise UsageError("calendar set DAY[..LAST] off|work NAME")
        saved = svc.set_days(day, last, ns.kind, ns.name, _actor())
        days = ns.day if to else day
        print(f"{days}: {ns.kind} ({ns.name}); due dates of {saved.recounted} open case(s) counted again")
    else:
        recounted = svc.remove_day(day, _actor())
        print(f"{day}: an ordinary day again; due dates of {recounted} open case(s) counted again")


def _report(engine: Engine, ns: SimpleNamespace) -> None:
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


def _broker(ns: SimpleNamespace) -> int:
    from hub.broker import auth as brokerauth
    from hub.broker.config import TUNING, listener_config

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
    elif ns.action == "tool":
        user = ns.name or brokerauth.TOOLS_USER
        password = brokerauth.add_tool(files, user)
        print(
            f"tool user {user} added and ACL written to {files.acl_file}; {reload_hint}. In the hub's settings: "
            f'[tools] broker_username = "{user}", and SHEGONG_HUB_TOOLS_BROKER_PASSWORD = this (shown once):',
            file=sys.stderr,
        )
        print(password)
    elif ns.action == "add" and ns.password_stdin:
        brokerauth.add_terminal(files, ns.name, sys.stdin.readline().rstrip("\n"))
        print(f"terminal {ns.name} added with the password given; {reload_hint}", file=sys.stderr)
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
        print(f"user {ns.name} revoked; {reload_hint} (its open connection is closed then)")
    elif ns.action == "list":
        for user in brokerauth.users(files):
            print(user)
    elif ns.action == "acl":
        hubs = [ns.name] if ns.name else brokerauth.hub_users(files) or [brokerauth.HUB_USER]
        tools = [u for u in brokerauth.tool_users(files) if u not in hubs]
        if ns.stdout:
            print(brokerauth.acl_text(hubs, tools), end="")
            return 0
        written = brokerauth.write_acl(files, hubs, tools)
        named = f"hub user(s) {', '.join(hubs)}, tool user(s) {', '.join(tools) or 'none'}"
        print(f"ACL written to {written} for {named}; {reload_hint}")
    elif ns.action == "tls":
        tls = brokerauth.make_tls(files, ns.host, ns.days)
        print(f"server certificate {tls.certfile} for {', '.join(ns.host)}; terminals and the hub trust {tls.cafile}")
    elif ns.action == "serve-auth":
        _serve_auth(files, ns)
    else:
        print("# /etc/mosquitto/conf.d/shegong.conf (printed by `shegong hub broker conf`)")
        print(listener_config(ns.port or 8883, ns.bind or "0.0.0.0", files.auth(), files.tls()) + TUNING, end="")
    return 0


def _serve_auth(files: BrokerFiles, ns: SimpleNamespace) -> None:
    """The brokers' HTTP backend on loopback unless told otherwise; elsewhere only behind a secret or mTLS.
    Runs until SIGTERM or Ctrl-C (uvicorn's own handlers)."""
    import ipaddress
    import ssl

    import uvicorn

    from hub.web.brokerhooks import create_app

    bind, port = ns.bind or "127.0.0.1", ns.port or 8089
    secret = ns.secret_file.read_text("utf-8").strip() if ns.secret_file else None
    if ns.secret_file and not secret:
        raise UsageError(f"{ns.secret_file} is empty")
    if bool(ns.tls_cert) != bool(ns.tls_key) or (ns.client_ca and not ns.tls_cert):
        raise UsageError("--tls-cert and --tls-key go together, and --client-ca needs them")
    try:
        loopback = ipaddress.ip_address(bind).is_loopback
    except ValueError:
        loopback = bind == "localhost"
    if not loopback and not (secret or ns.client_ca):
        raise UsageError(f"serving broker checks on {bind} needs --secret-file or --client-ca: anyone there could ask")
    print(f"answering broker checks from {files.folder} on {bind}:{port}", file=sys.stderr)
    uvicorn.run(
        create_app(files, secret),
        host=bind,
        port=port,
        log_level="warning",
        access_log=False,  # a line per publish would drown the log; the app logs each refusal
        ssl_certfile=ns.tls_cert,
        ssl_keyfile=ns.tls_key,
        ssl_ca_certs=ns.client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if ns.client_ca else ssl.CERT_NONE,
    )
