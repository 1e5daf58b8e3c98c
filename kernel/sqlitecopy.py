"""Online copies of a SQLite database and their check: what both sides' nightly backups and restores use."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

__all__ = ["sqlite_copy", "sqlite_integrity", "sqlite_replace"]


def sqlite_copy(source: Path, target: Path, wal: bool = False) -> None:
    """``source`` onto ``target`` with SQLite's backup API (consistent while others write); the copy in
    WAL mode or, by default, as one file with no WAL beside it."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    finally:
        dst.close()
        src.close()


def sqlite_replace(source: Path, target: Path, wal: bool = False) -> None:
    """``source`` copied beside ``target`` (0600) and moved over it whole: what a restore does. Copying into
    the database itself fails on the broken file a restore is often for ("file is not a database"). The
    replaced database's WAL and shared-memory files go first, or SQLite would apply its WAL to the new file."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restoring", dir=target.parent)
    os.close(fd)
    fresh = Path(name)
    try:
        sqlite_copy(source, fresh, wal=wal)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        fresh.replace(target)
    finally:
        fresh.unlink(missing_ok=True)


def sqlite_integrity(path: Path) -> str:
    """'' when ``PRAGMA integrity_check`` finds nothing wrong, else its first findings."""
    db = sqlite3.connect(path)
    try:
        rows = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        db.close()
    return "" if rows == ["ok"] else "; ".join(rows[:5])
