"""The hub's engine by URL, and its migrations: the same code on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from shegong.db import make_engine, upgrade_schema

__all__ = ["open_engine", "migrate"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def open_engine(url: str, *, upgrade: bool = True) -> Engine:
    """An engine for ``url`` (a SQLite file's folder is created), migrated to head unless told not to."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = make_engine(url)
    else:
        # psycopg re-parses a long multi-VALUES statement on every call; its own executemany pipelines
        # one short statement instead, which is what bulk ingest wants.
        engine = make_engine(url, pool_size=10, use_insertmanyvalues=False)
    if upgrade:
        migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (head by default), queue and data intact."""
    upgrade_schema(engine, _MIGRATIONS, revision)
