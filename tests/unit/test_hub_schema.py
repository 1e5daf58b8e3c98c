"""The hub's schema is the same on SQLite and PostgreSQL, and its migrations build exactly its models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hub.db.engine import open_engine
from hub.db.models import HubModel


def test_the_hub_migrations_build_exactly_the_models(hub_db_url):
    engine = open_engine(hub_db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), HubModel.metadata)
        assert diff == [], f"models and migrations differ: write a revision for {diff}"
    finally:
        engine.dispose()
