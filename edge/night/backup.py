"""The terminal's nightly database backup, and the one-command restore.

A backup is SQLite's online backup (``sqlite3.Connection.backup``): a consistent copy taken while the
kiosk goes on writing (WAL lets one writer and the backup's reader run together). Each copy is checked
with ``PRAGMA integrity_check`` before it counts; ``night_backups`` copies are kept, oldest removed first.
Copies hold what the database holds (sealed cases, timelines): files 0600 in a 0700 folder. What the
retention purge has taken from the database leaves the copies too (:meth:`Backups.forget_purged`, run by
the night after its purge), so a backup keeps no resident's data past the retention window.

A restore (``shegong edge restore``, the terminal stopped) checks the copy, then writes it over the
database with the same backup API, so the write-ahead log and shared memory stay consistent. Whatever was
accepted after that copy was made is at the hub already or in nobody's hands; the next nightly
reconciliation reports the first kind (``unknown_at_terminal``), and the hub keeps them.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.store.db import private_dir
from kernel.sqlitecopy import sqlite_copy, sqlite_integrity, sqlite_replace

__all__ = ["BackupBroken", "Backups"]

_PREFIX, _SUFFIX = "edge-", ".db"
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
        """The backups kept, oldest first."""
        folder = self.settings.backup_dir
        if not folder.exists():
            return []
        return sorted(p for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX))

    def take(self, now: datetime) -> dict[str, int]:
        """Copy the live database, check the copy, keep the newest ``night_backups``. Returns counts."""
        folder = private_dir(self.settings.backup_dir)
        target = folder / f"{_PREFIX}{now.strftime('%Y%m%dT%H%M%S')}{_SUFFIX}"
        partial = target.with_suffix(".partial")
        for left in folder.glob(f"{_PREFIX}*.partial"):  # a copy a night cut short left: never kept, never rotated
            left.unlink()
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600))
        sqlite_copy(self.settings.db_path, partial)
        problem = sqlite_integrity(partial)
        if problem:
            partial.unlink()
            raise BackupBroken(f"the night's backup failed its integrity check: {problem}")
        partial.replace(target)
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

    def restore(self, source: Path | None = None) -> Path:
        """Write ``source`` (default: the newest backup) over the database; the terminal must be stopped."""
        backups = self.kept()
        chosen = source or (backups[-1] if backups else None)
        if chosen is None or not chosen.exists():
            raise BackupBroken("no backup to restore")
        problem = sqlite_integrity(chosen)
        if problem:
            raise BackupBroken(f"{chosen.name} failed its integrity check: {problem}")
        sqlite_replace(chosen, self.settings.db_path)
        return chosen


def _continues(db: sqlite3.Connection) -> bool:
    """Whether the attached database (``live``) continues the chain of audit entries of ``main``: it holds
    ``main``'s last entry, the same one."""
    try:
        head = db.execute("SELECT last_id, head_hash FROM main.audit_anchor WHERE id = 1").fetchone()
        found = db.execute("SELECT hash FROM live.audit_entries WHERE id = ?", (head[0],)).fetchone() if head else None
    except sqlite3.DatabaseError:  # no chain in it (a copy older than the chain), or damaged
        return False
    return found is not None and found[0] == head[1]
