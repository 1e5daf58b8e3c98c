"""The terminal's nightly database backup, and the one-command restore.

A backup is SQLite's online backup (``sqlite3.Connection.backup``): a consistent copy taken while the
kiosk goes on writing (WAL lets one writer and the backup's reader run together). Each copy is checked
with ``PRAGMA integrity_check`` before it counts; ``night_backups`` copies are kept, oldest removed first.
Copies hold what the database holds (sealed cases, timelines): files 0600 in a 0700 folder.

A restore (``shegong edge restore``, the terminal stopped) checks the copy, then writes it over the
database with the same backup API, so the write-ahead log and shared memory stay consistent. Whatever was
accepted after that copy was made is at the hub already or in nobody's hands; the next nightly
reconciliation reports the first kind (``unknown_at_terminal``), and the hub keeps them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.errors import EdgeError
from edge.settings import EdgeSettings
from edge.store.db import private_dir
from kernel.sqlitecopy import sqlite_copy, sqlite_integrity

__all__ = ["BackupBroken", "Backups"]

_PREFIX, _SUFFIX = "edge-", ".db"


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
        partial.unlink(missing_ok=True)
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

    def restore(self, source: Path | None = None) -> Path:
        """Write ``source`` (default: the newest backup) over the database; the terminal must be stopped."""
        backups = self.kept()
        chosen = source or (backups[-1] if backups else None)
        if chosen is None or not chosen.exists():
            raise BackupBroken("no backup to restore")
        problem = sqlite_integrity(chosen)
        if problem:
            raise BackupBroken(f"{chosen.name} failed its integrity check: {problem}")
        sqlite_copy(chosen, self.settings.db_path)
        return chosen
