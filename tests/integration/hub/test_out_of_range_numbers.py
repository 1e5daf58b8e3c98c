"""A number too large for the hub's columns, from a terminal with valid credentials: the hub's runtime (its
fleet and night hooks on the handler, as in production) refuses the message as ``schema_invalid`` with a dead
letter, and the other terminals' messages of the same group are committed with it. Before, the decoder let
a birth's ``bd_seq`` of 10**30 through, the write of the terminal's row failed (BIGINT out of range on
PostgreSQL, OverflowError on SQLite), and the whole group failed with it: every message then tried alone.

The numbers are the columns' own limits (signed 64 bits), not the protocol's.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from protocol import SCHEMA_VERSION, topics
from protocol.envelope import utcnow


def _birth(terminal: str, **body: int) -> bytes:
    return json.dumps({"v": SCHEMA_VERSION, "type": "birth", "terminal": terminal, "body": body}).encode()


@pytest.mark.parametrize("field", ["bd_seq", "events_watermark"])
def test_a_birth_with_a_number_beyond_64_bits_is_dead_lettered_and_the_group_is_committed(hub, field):
    at = utcnow()
    bad = {"bd_seq": 1, field: 10**30}
    group = [(topics.state("T1"), _birth("T1", **bad), at), (topics.state("T2"), _birth("T2", bd_seq=7), at)]
    hub.handler.handle_many(group)  # raised before: the whole group failed
    with hub.engine.connect() as conn:
        letters = conn.execute(text("SELECT terminal_id, reason FROM dead_letters")).all()
        bd_seq = conn.execute(text("SELECT bd_seq FROM terminals WHERE terminal_id = 'T2'")).scalar_one()
    assert [tuple(r) for r in letters] == [("T1", "schema_invalid")]
    assert bd_seq == 7
