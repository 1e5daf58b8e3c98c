"""Opening the edge database: engine with WAL and synchronous=FULL, migrations to head, private modes."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from edge.settings import EdgeSettings
from kernel.db import make_engine, upgrade_schema

__all__ = [
    "CACHE_KIB",
    "HEAD",
    "bump_counter",
    "current_revision",
    "disk_free_mb",
    "migrate",
    "open_engine",
    "private_dir",
    "private_file",
    "read_counter",
]

HEAD = "e0019"
#: SQLite's page cache per connection, in KiB (its default: 2,000). A draining queue fills it, on each of the
#: pool's connections, with pages read once; the kernel's page cache keeps the file anyway. Measured on a
#: drain of 2,000 cases: 3-4 MB less resident, the rate unchanged (issue 17).
CACHE_KIB = 512
log = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).with_name("migrations")


def open_engine(settings: EdgeSettings) -> Engine:
    """Create the data folder (0700) and the engine, and bring the schema to head (queue intact).

    The database holds personal data (sealed cases, timelines, holder keys): it is created 0600 before
    SQLite opens it, and SQLite gives its -wal and -shm files the database file's mode. Files from an
    older install are narrowed to the same modes. ``secure_delete`` overwrites what is deleted (an acked
    outbox item, a purged case) instead of leaving it in free pages; the retention purge then truncates
    the write-ahead log, which still holds older copies of the pages (edge.store.retention). The page cache
    is small (:data:`CACHE_KIB`): a terminal has little memory."""
    private_dir(settings.data_dir)
    private_file(settings.db_path)
    for extra in ("-wal", "-shm", "-journal"):
        side = settings.db_path.with_name(settings.db_path.name + extra)
        if side.exists():
            side.chmod(0o600)
    engine = make_engine(
        f"sqlite:///{settings.db_path}",
        sqlite_pragmas={
            "max_page_count": settings.db_max_pages,
            "secure_delete": "on",
            "cache_size": -CACHE_KIB,
        },
    )
    if current_revision(engine) != HEAD:
        migrate(engine)
    from edge.store import audit  # here: audit's module imports the models, which need no engine
    from edge.store.auditkey import TerminalAuditKey

    key = TerminalAuditKey.load_or_init(settings.audit_key_path)
    audit.bind_key(engine, key)
    with engine.begin() as conn:
        if audit.seal(conn, key):
            log.info("signed the audit entries made before signing at append")
    return engine


def private_dir(path: Path) -> Path:
    """``path`` as a folder only this user can enter (0700), created with its parents if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only this user can read and write (0600): created empty if missing."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database, read without loading Alembic (a Pi has little memory)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:
        return None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (head by default), queue and data intact."""
    upgrade_schema(engine, _MIGRATIONS, revision)


def read_counter(conn: Connection, key: str) -> int:
    value = conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": key}).scalar()
    return int(value or 0)


def set_counter(conn: Connection, key: str, value: int) -> None:
    """Set a durable counter to ``value`` inside the caller's transaction."""
    conn.execute(
        text("INSERT INTO meta(key, value) VALUES (:k, :v) ON CONFLICT(key) DO UPDATE SET value = :v"),
        {"k": key, "v": value},
    )


def bump_counter(conn: Connection, key: str, by: int = 1) -> int:
    """Add ``by`` to a durable counter inside the caller's transaction and return the new value."""
    conn.execute(
        text("INSERT INTO meta(key, value) VALUES (:k, :v) ON CONFLICT(key) DO UPDATE SET value = value + :v"),
        {"k": key, "v": by},
    )
    return read_counter(conn, key)


def disk_free_mb(folder: Path) -> float:
    """Free space where ``folder`` is, in MiB, as an unprivileged process may use it (heartbeats, the
    submission guard and the console all read it here)."""
    return shutil.disk_usage(folder).free / 2**20
