"""``shegong edge …``: run a terminal, submit cases without the kiosk, inspect and repair the outbox,
verify the audit chain, purge what the retention window allows."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from types import SimpleNamespace

import click

from edge import settings as edge_settings
from edge.control import ControlServer, hold_service_lock, socket_path
from edge.errors import EdgeError
from edge.runtime import EdgeRuntime, app_version
from edge.store import audit
from edge.store.cases import NewCase
from edge.watchdog import Watchdog, http_answers, notify
from kernel.cli import LazyGroup
from kernel.cli import run as run_cli
from kernel.logs import configure as configure_logging
from kernel.process import private_files, stop_on_sigterm, wait_for_stop
from protocol.auditchain import Anchor
from protocol.cases import Applicant
from protocol.idnumber import birth_date, mask, sex

__all__ = ["edge", "main"]

log = logging.getLogger(__name__)
# The sync loop turns every few milliseconds; a connect attempt blocks it for at most paho's connect timeout
# and a TLS handshake. Still not turning after this long, it is hung: stop feeding systemd's watchdog.
SYNC_STALL_S = 45.0


@click.group(
    cls=LazyGroup,
    lazy_subcommands={"reader": ("edge.devices.cli:reader", "card reader tools (see `shegong edge reader --help`)")},
)
@click.pass_context
def edge(ctx: click.Context) -> None:
    """The committee terminal."""
    # Every file the terminal makes (database, its -wal/-shm, keys, the kiosk's secret, logs) is the
    # terminal user's alone: set before anything is opened, inherited by whatever it starts.
    ctx.with_resource(private_files())


@edge.command()
@click.option("--no-kiosk", is_flag=True, help="only the sync agent")
def run(no_kiosk: bool) -> int:
    """Run the sync agent (and the kiosk, when installed) until stopped."""
    return _run(edge_settings.load(), kiosk=not no_kiosk)


@edge.command()
@click.option(
    "--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="language at start (key l toggles)"
)
def console(lang: str) -> int:
    """The field maintenance console (Textual) of the terminal running here."""
    from edge.console.app import run_console  # a separate process: it never opens an EdgeRuntime of its own

    return run_console(edge_settings.load(), lang=lang)


@edge.command()
def nightly() -> int:
    """Run every overnight step once; JSON summary; exit 1 when a step failed."""
    from edge.night.cli import main as night_main

    return night_main(edge_settings.load(), SimpleNamespace(cmd="nightly"))


@edge.command()
@click.argument("backup", required=False)
def restore(backup: str | None) -> int:
    """Write a nightly backup over the database (terminal stopped). BACKUP: the file (default: the newest)."""
    from edge.night.cli import main as night_main

    return night_main(edge_settings.load(), SimpleNamespace(cmd="restore", backup=backup))


@edge.command()
@click.option("--item", required=True, help="catalogue item code")
@click.option("--id-number", required=True, help="the applicant's ID number (validated)")
@click.option("--name", required=True, help="the applicant's name")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="a form field (repeatable)")
@click.option("--agent", help="staff id when submitting on a resident's behalf (代办)")
@click.option(
    "--count", type=int, default=1, show_default=True, help="submit this many identical cases (tests, benchmarks)"
)
def submit(item: str, id_number: str, name: str, fields: tuple[str, ...], agent: str | None, count: int) -> int:
    """Accept a case as the kiosk would (receipt printed to stdout as JSON)."""
    with EdgeRuntime(edge_settings.load()) as rt:
        form = dict(f.split("=", 1) for f in fields)
        applicant = Applicant(
            id_number=id_number.upper(),
            name=name,
            sex=sex(id_number),
            birth_date=birth_date(id_number),
        )
        for _ in range(count):
            case = rt.cases.submit(NewCase(item_code=item, applicant=applicant, form=form, agent=agent))
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
    return 0


@edge.command()
def outbox() -> int:
    """Outbox depth, oldest unsent item, parked items, alarms (JSON)."""
    with EdgeRuntime(_this_terminal()) as rt:
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
    return 0


@edge.command()
def unpark() -> int:
    """Put items the hub refused back in the send loop, after fixing the cause."""
    with EdgeRuntime(_this_terminal()) as rt:
        print(f"{rt.outbox.unpark()} item(s) back in the send loop")
    return 0


@edge.command("audit")
@click.argument("action", type=click.Choice(["verify", "anchor"]))
@click.option("--anchor", help="also check against an anchor printed earlier (its JSON, or entries:last_id:head)")
def audit_command(action: str, anchor: str | None) -> int:
    """The terminal's tamper-evident audit trail.

    ACTION verify: walk the chain and name the first broken entry; anchor: print its length and head (JSON).
    """
    with EdgeRuntime(_this_terminal()) as rt:
        _audit(rt, SimpleNamespace(action=action, anchor=anchor))
    return 0


@edge.command()
@click.argument("action", type=click.Choice(["init", "public"]))
def keys(action: str) -> int:
    """This terminal's audit signing key (a file outside the database, 0600).

    ACTION init: make it in audit_key_file (once, at provisioning); public: print its public half, which
    the hub registers (`shegong hub terminal register T --committee C --audit-key KEY`).
    """
    from edge.store.auditkey import TerminalAuditKey

    path = edge_settings.load().audit_key_path
    key = TerminalAuditKey.init(path) if action == "init" else TerminalAuditKey.load(path)
    if action == "init":
        log.info("audit key written to %s", path)
    print(key.public_hex)
    return 0


@edge.command()
def ime() -> int:
    """Build the kiosk keyboard's pinyin index now (at provisioning), so the first resident who types a name
    does not wait for it: [kiosk] ime_index, else data_dir/ime.sqlite. The kiosk builds it itself when missing."""
    from edge.kiosk.ime import start_build

    settings = edge_settings.load()
    path = settings.kiosk.ime_path(settings.data_dir)
    code = start_build(path).wait()
    if code != 0:
        raise click.ClickException(f"building the pinyin index failed (exit {code})")
    log.info("pinyin index written to %s", path)
    return 0


@edge.command()
@click.option("--dry-run", is_flag=True, help="only count what would be purged")
def purge(dry_run: bool) -> int:
    """Purge acked, closed cases and ratings past the retention window."""
    settings = _this_terminal()
    with EdgeRuntime(settings) as rt:
        counts = rt.retention.purge(dry_run=dry_run)
        print(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "retention_days": settings.retention_days,
                    "cases": counts.cases,
                    "case_events": counts.case_events,
                    "ratings": counts.ratings,
                    "held": counts.held,  # past the window, kept: no reconciliation with the hub lately
                }
            )
        )
    return 0


def _this_terminal() -> edge_settings.EdgeSettings:
    """The settings of a terminal that exists: a command that reads or repairs one never makes a new,
    empty database (and audit key) where a mistyped SHEGONG_EDGE_CONFIG happens to point."""
    settings = edge_settings.load()
    if not settings.db_path.exists():
        config = edge_settings.EdgeSettings.config_path()
        raise EdgeError(f"no terminal database at {settings.db_path}: is {config} this terminal's configuration?")
    return settings


def main(argv: Sequence[str]) -> int:
    """``shegong edge ARGV`` in this process; errors of the edge propagate (the root reports them)."""
    return run_cli(edge, argv, "shegong edge")


def _audit(rt: EdgeRuntime, ns: SimpleNamespace) -> None:
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
    configure_logging(settings.log_level, settings.log_path)  # journald has stderr too, where there is one
    # Before anything: a second run must touch nothing of the first's. A night run by hand is waited for, with
    # systemd given more time to see the service start (EXTEND_TIMEOUT_USEC: two seconds at each look).
    hold_service_lock(settings.data_dir, on_wait=lambda: notify("EXTEND_TIMEOUT_USEC=2000000"))
    with EdgeRuntime(settings) as rt:
        rt.cases.sealer()  # no hub key, no sealed cases: refuse to start rather than refuse every resident
        # The check reads the whole file, about 10 MB a second from an SD card: systemd waits that long more.
        notify(f"EXTEND_TIMEOUT_USEC={int((30 + settings.db_path.stat().st_size / 10e6) * 1e6)}")
        if not rt.cases.check_storage():  # a damaged file: no new case (storage_failed), not cases lost in it
            rt.cases.numbering_resumes()  # after a power cut, today's receipt numbers move past what it forgot
        rt.start_sync()
        # The one way in for the maintenance console and `shegong edge nightly` (the night runs in here).
        ControlServer(rt, socket_path(settings.runtime_dir), app_version()).start()
        watchdog = Watchdog({"sync agent loop": lambda: time.monotonic() - rt.agent.loop_at < SYNC_STALL_S})
        try:
            if kiosk:
                try:
                    from edge.kiosk.server import KioskServer, serve
                except ImportError:
                    log.warning("kiosk not installed here; running the sync agent only")
                else:

                    def listening(server: KioskServer) -> None:
                        watchdog.checks["kiosk server"] = lambda: http_answers(server.local_url)
                        watchdog.start().ready(f"serving the kiosk on {server.url}")

                    serve(rt, stop, on_listening=listening)
                    return 0
            watchdog.start().ready("sync agent running")
            wait_for_stop(stop)
        finally:
            watchdog.stop()
            rt.cases.numbering_stops()
    return 0
