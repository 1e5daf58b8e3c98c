"""Database plumbing shared by edge and hub: UTC timestamps that survive SQLite, and engine set-up.

Only SQLAlchemy is imported here; the edge and the hub each keep their own tables and migrations.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.types import TypeDecorator

__all__ = [
    "BigIntPK",
    "MigrationRefused",
    "UnknownSchema",
    "UTCDateTime",
    "among",
    "deadlocked",
    "loggable",
    "transaction_lock",
    "make_engine",
    "read_only",
    "table",
    "upgrade_schema",
    "upsert_insert",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out — also on SQLite, which drops the offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, the value as SQLite's ``DATETIME`` stores it, made in one step: SQLAlchemy's chain
        (this type's conversion, then the dialect's string formatting in Python) cost the hub's ingest
        about 4 µs per timestamp, five per case."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            return None if value is None else _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def make_engine(url: str, *, sqlite_pragmas: dict[str, Any] | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite every connection gets WAL, FULL sync, a busy timeout and ``pragmas``.

    pysqlite's own transaction handling is replaced by explicit BEGIN IMMEDIATE, so that a write
    transaction takes the lock up front instead of failing half-way on a busy database. Connections of
    :func:`read_only` begin a plain (deferred) transaction: a long report then reads its WAL snapshot
    without holding the write lock, and ingest goes on beside it.

    ``hide_parameters``: a statement's parameters are resident data (ID numbers, names, phone numbers), and
    SQLAlchemy writes them into the text of every error it raises; see also :func:`loggable`.
    """
    kwargs.setdefault("hide_parameters", True)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    pragmas = {"journal_mode": "wal", "synchronous": "full", "foreign_keys": "on", "busy_timeout": 30000}
    pragmas.update(sqlite_pragmas or {})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        for key, value in pragmas.items():
            if value is not None:
                cur.execute(f"PRAGMA {key}={value}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


_READ_ONLY = "shegong_read_only"


def deadlocked(exc: BaseException) -> bool:
    """Whether PostgreSQL aborted the transaction in a deadlock (``deadlock_detected``, SQLSTATE 40P01)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "40P01"


def loggable(exc: BaseException) -> str:
    """``exc`` as it may be written to a log: its kind, where it was raised, and for a database error the
    server's one-line message, SQLSTATE and statement — never bound parameters nor the server's DETAIL,
    which quotes the failing row (PostgreSQL: ``Failing row contains (…)``, ``Key (…)=(…)``). The message
    of any other exception is left out too: it may quote what it failed on (a ``KeyError`` of an ID number).
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        orig = exc.orig
        diag = getattr(orig, "diag", None)  # psycopg: the primary message apart from DETAIL and HINT
        message = getattr(diag, "message_primary", None) or str(orig).split("\n", 1)[0]
        message = message.split(': "', 1)[0]  # PostgreSQL quotes a bad input value so: 'for type date: "…"'
        state = getattr(orig, "sqlstate", None)
        text = f"{type(exc).__name__} ({type(orig).__name__}{f', SQLSTATE {state}' if state else ''}): {message}"
        statement = " ".join((exc.statement or "").split())[:300]
        if statement:
            text += f" [statement: {statement}]"
    elif isinstance(exc, StatementError):
        text = f"{type(exc).__name__} ({type(exc.orig).__name__ if exc.orig else 'no cause'}); message withheld"
    elif isinstance(exc, OSError) and exc.strerror:  # a file or folder the operator must fix: say which
        text = f"{type(exc).__name__}: {exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    else:
        text = f"{type(exc).__name__}; message withheld (it may quote the data it failed on)"
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    return f"{text}\n{frames}" if frames else text


def read_only(engine: Engine) -> Engine:
    """``engine`` for reading: on SQLite its transactions do not take the write lock (see make_engine).

    A write through it fails on SQLite once another writer holds the lock; use it for reads only.
    """
    return engine.execution_options(**{_READ_ONLY: True})


BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit key on PostgreSQL that stays SQLite's INTEGER PRIMARY KEY (the rowid, so it autoincrements)."""


def table(model: type[Any]) -> Table:
    """The Core table a declarative ``model`` (a SQLModel ``table=True`` class) maps, typed.

    SQLModel leaves ``Model.__table__`` untyped; Core statements (bulk inserts, updates with expressions,
    whole-row reads on a connection) and index definitions take the table from here instead.
    """
    mapped = inspect(model).local_table
    if not isinstance(mapped, Table):
        raise TypeError(f"{model.__name__} does not map a single table")
    return mapped


_MIGRATION_LOCK = 730_002  # PostgreSQL advisory lock: one schema upgrade at a time (730_001: audit appends)


class MigrationRefused(Exception):
    """A migration found data it must not change on its own (it names what a person has to decide); raised
    by a migration script, shown as one line (an upgrade review saw a traceback, restarted every 5 s)."""

    is_user_error = True


class UnknownSchema(Exception):
    """The database's schema revision is one this release's migrations do not hold: a later release wrote
    it (or another program's database was given)."""

    is_user_error = True


def upgrade_schema(engine: Engine, migrations: Path, revision: str = "head") -> None:
    """Upgrade a schema with Alembic's scripts in ``migrations`` to ``revision``, in one transaction.

    Alembic is imported here, only when a schema is behind: a terminal in steady state never loads it.
    Raises :class:`UnknownSchema` for a revision it does not know, and changes nothing.
    """
    logging.getLogger("alembic").setLevel(logging.WARNING)  # before the import: it logs as it loads
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    with engine.begin() as conn:
        # Several hub processes start at once after an upgrade (ingest workers, web): one migrates, the others
        # wait here and then find the schema at head (they failed on each other's DDL: an upgrade review saw
        # a deadlock and DuplicateTable, mended only by systemd's restart).
        transaction_lock(conn, _MIGRATION_LOCK)
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, revision)
        except CommandError as exc:
            held = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            raise UnknownSchema(
                f"the database {engine.url.render_as_string(hide_password=True)} is at schema revision {held!r}, "
                "which this release does not know: a later release wrote it. Run that release (or a later one), "
                "or restore a backup this release made; nothing was changed"
            ) from exc


def among(bind: Engine | Connection, column: Column[Any], values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL one array parameter, ``column = ANY(…)``: the same short statement
    whatever the count, where an IN list is a statement with a parameter per value that SQLAlchemy expands
    and psycopg parses again on every call (measured: 1.2 against 0.5 ms of CPU to look up 200 case ids)."""
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # here: a terminal (SQLite) never loads it (2.4 MB resident)

        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def transaction_lock(conn: Connection, key: int, shared: bool = False) -> Connection:
    """On PostgreSQL, hold the advisory lock ``key`` until ``conn``'s transaction ends (``shared``: beside
    other shared holders, excluding an exclusive one); returns ``conn``. On SQLite nothing: its one writer
    serialises writing transactions already."""
    if conn.dialect.name == "postgresql":
        how = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(text(f"SELECT {how}(:k)"), {"k": key})
    return conn


def upsert_insert(bind: Engine | Connection) -> Any:
    """``insert`` of the database behind ``bind`` (PostgreSQL's or SQLite's): the one that has
    ``on_conflict_do_nothing`` / ``on_conflict_do_update``, which plain ``sqlalchemy.insert`` lacks."""
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # here: a terminal (SQLite) never loads it

        return postgresql.insert
    return sqlite.insert
