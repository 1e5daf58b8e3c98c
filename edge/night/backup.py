"""The terminal's nightly database backup, and the one-command restore.

A backup is SQLite's online backup (``sqlite3.Connection.backup``): a consistent copy taken while the
kiosk goes on writing (WAL lets one writer and the backup's reader run together). Each copy is checked
with ``PRAGMA integrity_check`` before it counts; ``night_backups`` copies are kept, oldest removed first
(the copy just taken is the newest, whatever the clock named the others: :func:`_before`).
Copies hold what the database holds (sealed cases, timelines): files 0600 in a 0700 folder. What the
retention purge has taken from the database leaves the copies too (:meth:`Backups.forget_purged`, run by
the night after its purge), so a backup keeps no resident's data past the retention window.

A restore (``shegong edge restore``, the terminal stopped) checks the copy (whole, and a terminal's
database at all), builds the restored database in a copy of it and moves that over the database whole.
What was accepted after the backup was made and the replaced database still holds — cases, their timelines
and queue items, ratings — is carried into it, queued as it was: it may be the only copy. When the replaced
database cannot be read, what it held is at the hub already or in nobody's hands; the next nightly
reconciliation reports the first kind (``unknown_at_terminal``), and the hub keeps them. Their receipt
numbers stay theirs: the restore carries each day's receipt counter over from the database it replaces
(the copy was taken at night, and numbering restarted the day at 0001, numbers the hub already holds for
other residents: their cases were taken under numbers the hub gave, not those on their receipts). When the
replaced database cannot be read, today's numbers continue :data:`RESTORED_AHEAD` above the copy's.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.store.cases import receipt_day
from edge.store.db import disk_free_mb, private_dir
from kernel.sqlitecopy import sqlite_copy, sqlite_integrity, sqlite_replace
from protocol.envelope import utcnow

__all__ = ["RESTORED_AHEAD", "BackupBroken", "Backups", "Restored", "backup_name"]

RESTORED_AHEAD = 5000
"""How far a restore moves today's receipt numbers when the database it replaces cannot be read (four digits a
day; a committee's terminal accepts tens): what was numbered since the copy must not be numbered again."""


class Restored(NamedTuple):
    backup: Path
    ahead: bool  # the replaced database could not be read: today's receipt numbers moved RESTORED_AHEAD on
    audit_carried: int = 0  # audit entries made since the backup, carried over from the replaced database
    audit_lost: bool = False  # the replaced database's chain could not be carried: the hub's copy is longer
    cases_carried: int | None = 0  # cases accepted since the backup, carried over; None: the database was unreadable


_PREFIX, _SUFFIX = "edge-", ".db"


def backup_name(now: datetime) -> str:
    """A backup's file name, the night's and the console's alike: names sort as the times they were taken."""
    return f"{_PREFIX}{now.strftime('%Y%m%dT%H%M%S')}{_SUFFIX}"


def _when(name: str) -> str:
    """The time in a backup's name, comparable: consoles before this named theirs edge-YYYYMMDD-HHMMSS.db,
    which sorted before the night's of the same day whatever its time."""
    stamp = name[len(_PREFIX) : -len(_SUFFIX)]
    return stamp[:8] + "T" + stamp[9:] if len(stamp) == 15 and stamp[8] == "-" else stamp


#: What a backup holds of items the database no longer does: each table, its key, and where the key lives now.
_GONE = (
    ("case_events", "case_id", "SELECT case_id FROM live.cases"),
    ("outbox", "item_id", "SELECT case_id FROM live.cases UNION ALL SELECT rating_id FROM live.ratings"),
    ("ratings", "rating_id", "SELECT rating_id FROM live.ratings"),
    ("cases", "case_id", "SELECT case_id FROM live.cases"),
)


class BackupBroken(EdgeError):
    """A backup failed its integrity check (or there is none to restore)."""


@dataclass(frozen=True, slots=True)
class Backups:
    settings: EdgeSettings

    def kept(self) -> list[Path]:
        """The backups kept, oldest first (by the time in their names: :meth:`take` keeps that true)."""
        folder = self.settings.backup_dir
        if not folder.exists():
            return []
        found = [p for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX)]
        return sorted(found, key=lambda p: _when(p.name))

    def take(self, now: datetime) -> dict[str, int]:
        """Copy the live database, check the copy, keep the newest ``night_backups``. Returns counts."""
        folder = private_dir(self.settings.backup_dir)
        target = folder / backup_name(now)
        partial = target.with_suffix(".partial")
        for left in folder.glob(f"{_PREFIX}*.partial*"):  # what a night cut short left (with its -journal)
            left.unlink()
        # Room for the copy and the residents' floor after it: a copy that filled the disk failed, stayed, and
        # the kiosk refused residents all the next day, every day (a storage review).
        size_mb = sum(p.stat().st_size for p in _with_wal(self.settings.db_path) if p.exists()) / 2**20
        free_mb, floor = disk_free_mb(folder), self.settings.min_free_disk_mb
        if free_mb < size_mb + floor:
            raise BackupBroken(
                f"no room for the night's backup: it needs about {size_mb:.0f} MB and {floor:.0f} MB must stay"
                f" free for residents' cases, {free_mb:.0f} MB are free; the last backups are kept"
            )
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600))
            sqlite_copy(self.settings.db_path, partial)
            problem = sqlite_integrity(partial)
            if problem:
                raise BackupBroken(f"the night's backup failed its integrity check: {problem}")
            _before(target, [p for p in self.kept() if _when(p.name) >= _when(target.name)])
            partial.replace(target)
        except sqlite3.Error as exc:
            raise BackupBroken(f"the night's backup could not be written: {exc}") from None
        finally:
            for left in folder.glob(f"{partial.name}*"):
                left.unlink()
        removed = 0
        for old in self.kept()[: -self.settings.night_backups]:
            old.unlink()
            removed += 1
        return {"bytes": target.stat().st_size, "kept": len(self.kept()), "removed": removed}

    def forget_purged(self) -> dict[str, int]:
        """Remove from every backup the cases (with their timelines and queue items) and ratings the database
        no longer holds: only the retention purge removes them. Deleted content is overwritten
        (``secure_delete``). A backup whose audit chain the database's does not continue (another store, one
        started afresh, or a copy too old or damaged to tell) is left as it is. Returns rows removed and
        backups left alone (``unrelated``)."""
        counts = dict.fromkeys([table for table, _, _ in _GONE], 0) | {"unrelated": 0}
        live = f"file:{self.settings.db_path}?mode=ro"
        for path in self.kept():
            db = sqlite3.connect(f"file:{path}", uri=True, isolation_level=None)
            try:
                db.execute("PRAGMA secure_delete = ON")
                db.execute("ATTACH DATABASE ? AS live", (live,))
                if not _continues(db):
                    counts["unrelated"] += 1
                    continue
                db.execute("BEGIN IMMEDIATE")
                for table, key, now_in in _GONE:
                    counts[table] += db.execute(f"DELETE FROM main.{table} WHERE {key} NOT IN ({now_in})").rowcount
                db.execute("COMMIT")
            finally:
                db.close()
        return counts

    def restore(self, source: Path | None = None, now: datetime | None = None) -> Restored:
        """Write ``source`` (default: the newest backup) over the database, keeping the receipt numbers
        given since and what was accepted since; the terminal must be stopped.

        All is done in a copy of the backup (0600, in the backup folder), then moved over the database whole:
        a step that fails leaves the database as it was (a storage review: a failed console backup left an
        empty file, the restore took it as the newest, moved it over the database and then failed, and every
        case was gone). What the replaced database holds that the backup does not — cases accepted since,
        their queue items and timelines, ratings — goes into the copy first: it is the only copy of a case
        not yet sent (the same review restored a backup over fifty such cases, and lost them)."""
        backups = self.kept()
        chosen = source or (backups[-1] if backups else None)
        if chosen is None or not chosen.exists():
            raise BackupBroken("no backup to restore")
        problem = sqlite_integrity(chosen) or _not_a_terminal(chosen)
        if problem:
            raise BackupBroken(f"{chosen.name} cannot be restored: {problem}")
        live = self.settings.db_path
        counters = _receipt_counters(live)
        tail = _audit_tail(live, chosen)
        work = private_dir(self.settings.backup_dir) / f"{_PREFIX}restoring.partial"
        try:
            os.close(os.open(work, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            sqlite_copy(chosen, work)
            carried = _carry_items(work, live)
            _carry_counters(work, counters, receipt_day(now or utcnow()))
            if tail:
                _carry_audit(work, tail)
            sqlite_replace(work, live)
        finally:
            work.unlink(missing_ok=True)
        return Restored(chosen, counters is None, len(tail or ()), tail is None, carried)


def _before(target: Path, later: list[Path]) -> None:
    """Rename the copies named at or after ``target``'s time (oldest first) to the seconds just before it:
    every copy there was taken before the one being taken now, whatever the clock said then. A night with
    the clock days ahead named its copy the newest for days; each later night's rotation removed a truly
    recent copy instead, and a restore took the stale one (a night review)."""
    at = datetime.strptime(_when(target.name), "%Y%m%dT%H%M%S")
    for back, path in enumerate(reversed(later), start=1):
        path.replace(target.with_name(backup_name(at - timedelta(seconds=back))))


def _with_wal(db: Path) -> tuple[Path, Path]:
    return db, Path(f"{db}-wal")


def _not_a_terminal(path: Path) -> str:
    """'' when ``path`` holds a terminal's database (its tables there), else why not: an empty file passes
    SQLite's integrity check."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    missing = sorted({"cases", "outbox", "receipt_counters", "audit_entries"} - names)
    return (
        f"it holds no terminal database (no {', '.join(missing)}): empty, cut short or another file" if missing else ""
    )


#: What a restore carries over from the database it replaces: each table, its key. The queue's own order
#: number (``seq``) is given anew: the backup's queue holds other items under the same numbers.
_CARRIED = (("cases", "case_id"), ("case_events", "event_id"), ("ratings", "rating_id"), ("outbox", "item_id"))


def _carry_items(work: Path, live: Path) -> int | None:
    """Copy into the restored copy ``work`` what the database at ``live`` holds and it does not (by key);
    returns how many cases, or None when ``live`` could not be read (nothing carried)."""
    if not live.exists():
        return 0
    db = sqlite3.connect(work, isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS live", (f"file:{live}?mode=ro",))
        db.execute("BEGIN IMMEDIATE")
        cases = 0
        for table, key in _CARRIED:
            have = [str(r[1]) for r in db.execute(f"PRAGMA main.table_info({table})")]
            there = {str(r[1]) for r in db.execute(f"PRAGMA live.table_info({table})")}
            columns = ", ".join(c for c in have if c in there and not (table == "outbox" and c == "seq"))
            order = " ORDER BY seq" if table == "outbox" else ""
            added = db.execute(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM live.{table}"
                f" WHERE {key} NOT IN (SELECT {key} FROM main.{table}){order}"
            ).rowcount
            cases += added if table == "cases" else 0
        db.execute("COMMIT")
        return cases
    except sqlite3.DatabaseError:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return None
    finally:
        db.close()


def _receipt_counters(db_path: Path) -> dict[str, int] | None:
    """Each day's last receipt number in the database at ``db_path`` ({} when there is none); None when it
    cannot be read (a broken file: what was numbered in it is not known)."""
    if not db_path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return {str(day): int(last) for day, last in db.execute("SELECT day, last FROM receipt_counters")}
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None


def _carry_counters(db_path: Path, counters: dict[str, int] | None, today: str) -> None:
    """Each day's counter in the restored database at least what ``counters`` held; with none known, today's
    :data:`RESTORED_AHEAD` above its own."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        if counters is None:
            held = db.execute("SELECT last FROM receipt_counters WHERE day = ?", (today,)).fetchone()
            counters = {today: (held[0] if held else 0) + RESTORED_AHEAD}
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO receipt_counters (day, last) VALUES (?, ?)"
            " ON CONFLICT (day) DO UPDATE SET last = max(last, excluded.last)",
            sorted(counters.items()),
        )
        db.execute("COMMIT")
    finally:
        db.close()


_AUDIT_COLUMNS = "id, at, actor, action, subject, data, prev_hash, hash, sig"


def _audit_tail(db_path: Path, backup: Path) -> list[tuple[object, ...]] | None:
    """The audit entries the database at ``db_path`` holds after ``backup``'s last, when its chain goes on
    from ``backup``'s ([] when nothing came after); None when it cannot be read or is another history.

    The terminal's chain is append-only and its entries went up to the hub each night: restored without them,
    the next entries would take their ids with other contents, and the hub (holding the first ones) would
    refuse the terminal's chain from there on, every night."""
    if not db_path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            db.execute("ATTACH DATABASE ? AS live", (f"file:{db_path}?mode=ro",))
            head = db.execute("SELECT last_id FROM main.audit_anchor WHERE id = 1").fetchone()
            if head is None or (head[0] and not _continues(db)):
                return None
            query = f"SELECT {_AUDIT_COLUMNS} FROM live.audit_entries WHERE id > ? ORDER BY id"
            return [tuple(r) for r in db.execute(query, (head[0],))]
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None


def _carry_audit(db_path: Path, tail: list[tuple[object, ...]]) -> None:
    """``tail`` appended to the restored database's chain, and its anchor moved to the tail's last entry. A
    backup of an older release may lack a column (``sig``): the entries go in without it, and the terminal
    signs them again at its start (the same key gives the same signature)."""
    names = _AUDIT_COLUMNS.split(", ")
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        have = {row[1] for row in db.execute("PRAGMA table_info(audit_entries)")}
        kept = [i for i, name in enumerate(names) if name in have]
        columns = ", ".join(names[i] for i in kept)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            f"INSERT INTO audit_entries ({columns}) VALUES ({', '.join('?' * len(kept))})",
            [tuple(row[i] for i in kept) for row in tail],
        )
        last = dict(zip(names, tail[-1], strict=True))
        db.execute(
            "UPDATE audit_anchor SET entries = entries + ?, last_id = ?, head_hash = ? WHERE id = 1",
            (len(tail), last["id"], last["hash"]),
        )
        db.execute("COMMIT")
    finally:
        db.close()


def _continues(db: sqlite3.Connection) -> bool:
    """Whether the attached database (``live``) continues the chain of audit entries of ``main``: it holds
    ``main``'s last entry, the same one."""
    try:
        head = db.execute("SELECT last_id, head_hash FROM main.audit_anchor WHERE id = 1").fetchone()
        found = db.execute("SELECT hash FROM live.audit_entries WHERE id = ?", (head[0],)).fetchone() if head else None
    except sqlite3.DatabaseError:  # no chain in it (a copy older than the chain), or damaged
        return False
    return found is not None and found[0] == head[1]
