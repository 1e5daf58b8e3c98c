"""The hub's engine by URL, and its migrations: the same code on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from hub.errors import HubError
from kernel.db import make_engine, upgrade_schema

__all__ = ["DatabaseUnreachable", "migrate", "open_engine"]

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DatabaseUnreachable(HubError):
    """The hub's database cannot be opened: its SQLite file cannot be made, or its server does not answer.
    A ``shegong hub`` command says so in a line, naming the database without its password."""


def open_engine(url: str, *, upgrade: bool = True) -> Engine:
    """An engine for ``url`` (a SQLite file's folder is created), migrated to head unless told not to."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        try:
            _private_sqlite_file(Path(parsed.database))
        except OSError as exc:
            raise DatabaseUnreachable(f"cannot open the database {shown}: {exc.strerror} ({exc.filename})") from None
    if url.startswith("sqlite"):
        # What retention blanks and purges is overwritten in the file, not left in free pages: some SQLite
        # builds default to it (Debian's), others do not (a personal-data review).
        engine = make_engine(url, sqlite_pragmas={"secure_delete": "on"})
    else:
        # psycopg re-parses a long multi-VALUES statement on every call; its own executemany pipelines
        # one short statement instead, which is what bulk ingest wants.
        engine = make_engine(url, pool_size=10, use_insertmanyvalues=False)
    if upgrade:
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise DatabaseUnreachable(f"cannot open the database {shown}: {reason}") from exc
    return engine


def _private_sqlite_file(path: Path) -> None:
    """The database holds personal data: it is made 0600 before SQLite opens it, and one left readable by
    others (made before this rule, or copied in) is narrowed to 0600 with its WAL and shared memory.

    SQLite makes its ``-wal`` and ``-shm`` files with the database file's own mode, so they follow it,
    whatever the process's umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o): narrowed to 0600", file, mode)
            file.chmod(0o600)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (head by default), queue and data intact."""
    upgrade_schema(engine, _MIGRATIONS, revision)
