"""The hub's nightly backup and its restore: SQLite through its online backup API, PostgreSQL through
``pg_dump`` (custom format) and ``pg_restore``.

Each backup is checked before it counts — SQLite's ``PRAGMA integrity_check`` on the copy, ``pg_restore
--list`` reading the whole dump's table of contents — and ``backups_kept`` are kept, oldest removed
first. Backups hold personal data: files 0600 in a 0700 folder. The PostgreSQL password goes to the tools
in ``PGPASSWORD``, never on their command line (a process list shows that).

A restore writes a backup over the database (the hub stopped). What terminals sent after it was made is
lost at the hub only: the terminals' nightly reconciliation sends it again from their sealed copies.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from hub.errors import HubError
from kernel.sqlitecopy import sqlite_copy, sqlite_integrity

__all__ = ["BackupFailed", "HubBackups"]

_PREFIX = "hub-"
_SUFFIXES = (".db", ".dump")


class BackupFailed(HubError):
    """A backup or restore failed, or its check did."""


@dataclass(frozen=True, slots=True)
class HubBackups:
    database_url: str
    folder: Path
    keep: int

    @property
    def _url(self) -> URL:
        return make_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    def kept(self) -> list[Path]:
        """The backups kept, oldest first."""
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.startswith(_PREFIX) and p.suffix in _SUFFIXES)

    def take(self, now: datetime) -> dict[str, int]:
        """Back the database up, check the copy, keep the newest ``keep``. Returns counts."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        stamp = now.strftime("%Y%m%dT%H%M%S")
        target = self.folder / f"{_PREFIX}{stamp}{'.db' if self.is_sqlite else '.dump'}"
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            if self.is_sqlite:
                sqlite_copy(self._sqlite_path(), partial)
                problem = sqlite_integrity(partial)
            else:
                self._tool(["pg_dump", "--format=custom", f"--file={partial}", self._libpq()])
                problem = self._check_dump(partial)
            if problem:
                raise BackupFailed(f"the night's backup failed its check: {problem}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        removed = 0
        for old in self.kept()[: -self.keep]:
            old.unlink()
            removed += 1
        return {"bytes": target.stat().st_size, "kept": len(self.kept()), "removed": removed}

    def restore(self, source: Path) -> None:
        """Write ``source`` over the database (the hub's processes stopped)."""
        if not source.exists():
            raise BackupFailed(f"no such backup: {source}")
        if self.is_sqlite:
            problem = sqlite_integrity(source)
            if problem:
                raise BackupFailed(f"{source.name} failed its integrity check: {problem}")
            sqlite_copy(source, self._sqlite_path(), wal=True)
            return
        problem = self._check_dump(source)
        if problem:
            raise BackupFailed(f"{source.name} cannot be read: {problem}")
        self._tool(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname", self._libpq()]
            + [str(source)]
        )

    # ------------------------------------------------------------------ helpers
    def _sqlite_path(self) -> Path:
        database = self._url.database
        if not database or database == ":memory:":
            raise BackupFailed("an in-memory database has nothing to back up")
        return Path(database)

    def _libpq(self) -> str:
        """The URL as libpq takes it: no SQLAlchemy driver name and no password (that goes in PGPASSWORD)."""
        return self._url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)

    def _tool(self, argv: list[str]) -> None:
        env = dict(os.environ)
        if self._url.password:
            env["PGPASSWORD"] = str(self._url.password)
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
        except FileNotFoundError:
            raise BackupFailed(f"{argv[0]} is not installed (Debian: postgresql-client)") from None
        if done.returncode != 0:
            raise BackupFailed(f"{argv[0]} failed: {done.stderr.strip()[:300]}")

    def _check_dump(self, path: Path) -> str:
        try:
            self._tool(["pg_restore", "--list", str(path)])
        except BackupFailed as exc:
            return str(exc)
        return ""
