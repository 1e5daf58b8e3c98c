"""SQLite: a reader through ``read_only`` does not hold the write lock; an ordinary transaction does."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from kernel.db import make_engine, read_only


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_pragmas={"busy_timeout": 300})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield engine
    engine.dispose()


def count(conn) -> int:
    return conn.execute(text("SELECT count(*) FROM t")).scalar_one()


def test_a_long_read_leaves_writers_free_and_keeps_its_snapshot(engine):
    with read_only(engine).connect() as reader:
        assert count(reader) == 1  # the report's transaction is open
        with engine.begin() as writer:  # ingest commits beside it, without waiting
            writer.execute(text("INSERT INTO t VALUES (2)"))
        assert count(reader) == 1  # one consistent snapshot for the whole report
    with read_only(engine).connect() as reader:
        assert count(reader) == 2


def test_an_ordinary_transaction_takes_the_write_lock_up_front(engine):
    with engine.connect() as holder:
        assert count(holder) == 1  # BEGIN IMMEDIATE: the lock is held, even for a read
        with pytest.raises(OperationalError, match="locked"), engine.begin() as writer:
            writer.execute(text("INSERT INTO t VALUES (2)"))
