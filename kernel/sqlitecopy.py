"""Online copies of a SQLite database and their check: what both sides' nightly backups and restores use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["sqlite_copy", "sqlite_integrity"]


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
