"""What the console reads from the terminal's database, and every change it makes there, each audited.

Reads go through :func:`kernel.db.read_only` (no write lock: the kiosk and the sync agent carry on). The
console never migrates: a store at another schema than this software's is reported, not changed. Every
technician action appends one ``console.<action>`` entry to the terminal's audit chain, naming the
technician as the kernel knows this process (:func:`edge.control.technician`, as the running terminal names
them over its socket) and never a resident. Parked items are named by receipt number, never by holder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import DisconnectionError

from edge.catalogue.calendar import stored
from edge.control import technician
from edge.errors import EdgeError
from edge.night.backup import Backups, backup_name
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.auditkey import AuditKeyError, TerminalAuditKey
from edge.store.db import HEAD, current_revision
from edge.store.models import Alarm, AuditEntryRow, Case, CatalogueStateRow, OutboxRow, table
from edge.store.outbox import Outbox, OutboxStats
from edge.store.retention import PurgeCounts, Retention
from kernel.db import make_engine, read_only
from protocol.auditchain import Anchor, Break
from protocol.envelope import utcnow
from protocol.workdays import load_seed_calendar

__all__ = ["ConsoleStore", "NoStore", "Parked", "StoreFacts"]

log = logging.getLogger(__name__)

_outbox, _cases, _alarms = table(OutboxRow), table(Case), table(Alarm)
_entries, _catalogue = table(AuditEntryRow), table(CatalogueStateRow)


class NoStore(EdgeError):
    """There is no terminal database where the settings say (not provisioned, or the wrong data_dir)."""


@dataclass(frozen=True, slots=True)
class Parked:
    """An item the hub refused: its receipt number (cases) or channel, when, why, attempts so far."""

    seq: int
    channel: str
    receipt_no: str | None
    parked_at: datetime | None
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True)
class StoreFacts:
    """The store's side of the overview, read in one go."""

    schema: str | None
    outbox: OutboxStats
    oldest_receipt: str | None
    alarms: dict[str, str]
    last_ack_at: datetime | None
    catalogue_version: int
    audit_entries: int
    calendar_years: list[int]  # of the calendar the kiosk counts on
    calendar_received_at: datetime | None  # None: the shipped one (none received from the hub)


class ConsoleStore:
    """The terminal's database as the console uses it. ``close()`` when done."""

    def __init__(self, settings: EdgeSettings) -> None:
        if not settings.db_path.exists():
            raise NoStore(f"no terminal database at {settings.db_path}")
        self.settings = settings
        self.who = technician(os.getpid(), os.getuid())
        # secure_delete as the terminal sets it (edge.store.db): what the console purges or clears is overwritten,
        # not left in free pages, also where SQLite was built without it on by default (Debian's has it on).
        self.engine: Engine = make_engine(
            f"sqlite:///{settings.db_path}", sqlite_pragmas={"busy_timeout": 5000, "secure_delete": "on"}
        )
        self.reader = read_only(self.engine)
        _follow_replacements(self.engine, settings.db_path)
        # What the console records is signed as the terminal's own entries are: an unsigned entry breaks
        # the chain at the hub and every night after. Without the key the console reads, and changes nothing.
        try:
            key = TerminalAuditKey.load(settings.audit_key_path)
            audit.bind_key(self.engine, key)
            audit.bind_key(self.reader, key)  # its verify checks the signatures too, as `shegong edge audit` does
            self._no_key: str | None = None
        except AuditKeyError as exc:
            self._no_key = str(exc)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ reads
    def facts(self) -> StoreFacts:
        schema = current_revision(self.reader)
        with self.reader.connect() as conn:
            oldest = conn.execute(
                select(_cases.c.receipt_no)
                .join(_outbox, _outbox.c.item_id == _cases.c.case_id)
                .where(_outbox.c.parked_at.is_(None))
                .order_by(_outbox.c.seq)
                .limit(1)
            ).scalar()
            rows = conn.execute(select(_alarms.c.kind, _alarms.c.message).where(_alarms.c.cleared_at.is_(None)))
            alarms = {kind: message for kind, message in rows}
            last_ack = conn.execute(select(func.max(_entries.c.id)).where(_entries.c.action == "outbox.acked")).scalar()
            ack_at = conn.execute(select(_entries.c.at).where(_entries.c.id == last_ack)).scalar() if last_ack else None
            version = conn.execute(select(_catalogue.c.version).where(_catalogue.c.id == 1)).scalar()
            entries = audit.anchor(conn).entries
            held = stored(conn) if schema == HEAD else None  # a database not migrated yet has no such table
        years = (held[0] if held else load_seed_calendar()).years
        return StoreFacts(
            schema=schema,
            outbox=Outbox(self.reader).stats(),
            oldest_receipt=oldest,
            alarms=alarms,
            last_ack_at=ack_at,
            catalogue_version=version or 0,
            audit_entries=entries,
            calendar_years=years,
            calendar_received_at=held[1] if held else None,
        )

    @property
    def schema_ok(self) -> bool:
        return current_revision(self.reader) == HEAD

    def parked(self, limit: int = 200) -> list[Parked]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(
                    _outbox.c.seq,
                    _outbox.c.channel,
                    _cases.c.receipt_no,
                    _outbox.c.parked_at,
                    _outbox.c.parked_reason,
                    _outbox.c.attempts,
                )
                .join(_cases, _cases.c.case_id == _outbox.c.item_id, isouter=True)
                .where(_outbox.c.parked_at.is_not(None))
                .order_by(_outbox.c.seq)
                .limit(limit)
            ).all()
        return [Parked(r.seq, r.channel, r.receipt_no, r.parked_at, r.parked_reason or "", r.attempts) for r in rows]

    # ------------------------------------------------------------------ actions (each audited)
    def record(self, action: str, data: Mapping[str, Any], subject: str = "console") -> None:
        """Append ``console.<action>`` by this technician to the terminal's audit chain."""
        self._writable()
        with self.engine.begin() as conn:
            self.who.record(conn, action, data, subject)

    def unpark(self) -> int:
        self._writable()
        n = Outbox(self.engine).unpark()
        self.record("unpark", {"items": n})
        return n

    def verify_audit(self) -> tuple[int, Break | None]:
        with self.reader.connect() as conn:
            checked, broken = audit.verify(conn)
        self.record("audit_verify", {"checked": checked, "broken_at": broken.entry_id if broken else None})
        return checked, broken

    def anchor(self) -> Anchor:
        with self.reader.connect() as conn:
            found = audit.anchor(conn)
        self.record("audit_anchor", found.as_dict())
        return found

    def purge(self, dry_run: bool) -> PurgeCounts:
        self._writable()
        counts = Retention(self.engine, self.settings).purge(dry_run=dry_run)
        self.record(
            "purge_dry_run" if dry_run else "purge",
            {"cases": counts.cases, "ratings": counts.ratings, "held": counts.held},
        )
        return counts

    def backup(self) -> Path:
        """Copy the database now, as the night does (:meth:`edge.night.backup.Backups.take`: SQLite's online
        backup, checked, 0600, kept among the night's generations). Made as a ``.partial`` and named only
        when whole: the console's own copy left an empty file when the disk was full, and a restore took it
        as the newest backup (a storage review)."""
        now = utcnow()
        try:
            Backups(self.settings).take(now)
        except EdgeError as exc:
            self.record("backup", {"failed": str(exc)[:300]})
            raise
        target = self.settings.backup_dir / backup_name(now)
        self.record("backup", {"file": target.name, "bytes": target.stat().st_size, "integrity": True})
        return target

    def _writable(self) -> None:
        if self._no_key is not None:
            raise EdgeError(
                f"the terminal's audit key cannot be read ({self._no_key}): run the console as the terminal's"
                " user (sudo -u shegong); the console changes nothing without it"
            )
        if not self.schema_ok:
            raise EdgeError(
                f"the store is not at schema {HEAD}: upgrade the terminal first; the console changes nothing"
            )


def _follow_replacements(engine: Engine, path: Path) -> None:
    """A restore (``shegong edge restore``) moves another file over the database while the console may be open:
    a pooled connection to the file it replaced is dropped when next taken, so the console shows what the
    terminal holds now instead of what it held (SQLAlchemy's pessimistic disconnect handling)."""

    def identity() -> tuple[int, int] | None:
        try:
            st = path.stat()
        except FileNotFoundError:  # between a restore's removal and its move
            return None
        return st.st_dev, st.st_ino

    @event.listens_for(engine, "connect")
    def opened(_dbapi: object, record: Any) -> None:
        record.info["file"] = identity()

    @event.listens_for(engine, "checkout")
    def taken(_dbapi: object, record: Any, _proxy: object) -> None:
        if record.info.get("file") != identity():
            log.info("the terminal's database was replaced (restored?): reading the new one")
            raise DisconnectionError("the database file was replaced")
