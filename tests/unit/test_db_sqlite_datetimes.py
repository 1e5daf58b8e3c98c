"""On SQLite, ``UTCDateTime`` hands the driver the text SQLAlchemy's own chain would (its conversion to
naive UTC, then SQLite ``DATETIME``'s formatting): the one-step processor that replaces the chain for
speed is checked against the chain itself, and against values read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from kernel.db import UTCDateTime

_DIALECT = sqlite.dialect()


def _chain(value: datetime | None) -> str | None:
    """The second implementation: the type's own conversion, then SQLite DATETIME's bind processor."""
    naive = UTCDateTime().process_bind_param(value, _DIALECT)
    return sqlite.DATETIME().bind_processor(_DIALECT)(naive)


_fast = UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)

aware = st.datetimes(
    min_value=datetime(1900, 1, 2),
    max_value=datetime(9998, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
)


@given(aware)
def test_the_one_step_processor_gives_what_the_chain_gives(value):
    assert _fast(value) == _chain(value)


def test_hand_worked_values_and_refusals():
    assert _fast(datetime(2026, 12, 5, 1, 2, 3, 45, tzinfo=UTC)) == "2026-12-05 01:02:03.000045"
    assert _fast(datetime(2026, 12, 5, 1, 2, 3, tzinfo=timezone(timedelta(hours=8)))) == "2026-12-04 17:02:03.000000"
    assert _fast(None) is None
    with pytest.raises(ValueError, match="naive"):
        _fast(datetime(2026, 12, 5))


def test_values_written_by_sqlalchemy_read_back_as_the_same_instant():
    engine = create_engine("sqlite://")
    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))
    t.metadata.create_all(engine)
    at = datetime(2026, 12, 5, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(insert(t), [{"id": 1, "at": at}])
        assert conn.execute(select(t.c.at)).scalar() == at
        assert conn.exec_driver_sql("SELECT at FROM t").scalar() == "2026-12-05 01:30:00.123456"
