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


def test_a_database_a_later_release_wrote_is_refused_in_one_line_and_left_as_it_is(hub_db_url, capsys, monkeypatch):
    """Upgrade review: an older release given a database a later one migrated stopped with Alembic's
    traceback ("Can't locate revision"). It now says what happened and what to do, and changes nothing."""
    from sqlalchemy import text

    from hub.db.engine import open_engine
    from shegong import cli

    engine = open_engine(hub_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'h9999_from_the_future'"))
    monkeypatch.setenv("SHEGONG_HUB_DATABASE_URL", hub_db_url)
    assert cli.main(["hub", "migrate"]) == 2
    said = capsys.readouterr().err
    assert "schema revision 'h9999_from_the_future', which this release does not know" in said
    assert "Traceback" not in said and len(said.strip().splitlines()) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "h9999_from_the_future"
    engine.dispose()
