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


def test_hub_processes_starting_together_on_a_new_database_all_come_up(pg_url):
    """Upgrade review: three hub processes started at once on PostgreSQL (ingest workers and the web, as
    systemd starts them after an upgrade) failed on each other's DDL, two of them, until systemd restarted
    them. The migration now takes an advisory lock: one migrates, the others find the schema at head."""
    import threading

    from sqlalchemy import text

    from hub.db.engine import open_engine

    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def process() -> None:
        try:
            start.wait()
            open_engine(pg_url).dispose()
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            failures.append(exc)

    threads = [threading.Thread(target=process) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    engine = open_engine(pg_url, upgrade=False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
