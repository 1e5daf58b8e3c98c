"""Values the hub's database cannot store, from a terminal with valid credentials: a number beyond the columns'
signed 64 bits, a text holding U+0000 (PostgreSQL refuses NUL in text). The hub's runtime (its fleet and night
hooks on the handler, as in production) refuses such a message as ``schema_invalid`` — a sealed case as
``sealed_invalid`` — with a dead letter, and commits the other terminals' messages of the same group with it.

Before, the decoder let them through, the write failed (OverflowError on SQLite; NumericValueOutOfRange or
"text fields cannot contain NUL" on PostgreSQL) and took the whole group with it: the worker then committed
each message of the group alone, and set the bad one aside only after two more failures, so one terminal
slowed intake for all (DESIGN §5). The limits are the databases' own, not the protocol's.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from protocol import SCHEMA_VERSION, topics
from protocol.cases import CaseBatch, CaseBatchBody
from protocol.envelope import utcnow
from tests.support import register_terminal, seal, submission


def _message(kind: str, terminal: str, body: dict[str, Any]) -> bytes:
    return json.dumps({"v": SCHEMA_VERSION, "type": kind, "terminal": terminal, "body": body}).encode()


def _letters(hub) -> list[tuple[str, str]]:
    with hub.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT terminal_id, reason FROM dead_letters")).all()]


def _committed_with(hub, bad: tuple[str, bytes]) -> None:
    """Handle ``bad`` (topic, payload) from T1 in one group with T2's birth; T2's birth is committed."""
    at = utcnow()
    good = (topics.state("T2"), _message("birth", "T2", {"bd_seq": 7}), at)
    hub.handler.handle_many([(*bad, at), good])  # raised before: the whole group failed
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT bd_seq FROM terminals WHERE terminal_id = 'T2'")).scalar_one() == 7


@pytest.mark.parametrize("field", ["bd_seq", "events_watermark"])
def test_a_birth_with_a_number_beyond_64_bits_is_dead_lettered_and_the_group_is_committed(hub, field):
    _committed_with(hub, (topics.state("T1"), _message("birth", "T1", {"bd_seq": 1, field: 10**30})))
    assert _letters(hub) == [("T1", "schema_invalid")]


NUL = "\u0000"
HOLDING_NUL = {
    "birth": (topics.state("T1"), {"bd_seq": 1, "app_version": f"1.0{NUL}"}),
    "heartbeat": (
        topics.up("T1", topics.Up.HEALTH),
        {"bd_seq": 1, "uptime_s": 1, "outbox_depth": 0, "disk_free_mb": 1, "alarms": [f"printer{NUL}"]},
    ),
    "rating_batch": (
        topics.up("T1", topics.Up.RATINGS),
        {
            "ratings": [
                {
                    "rating_id": str(uuid.uuid4()),
                    "committee": "JW001",
                    "level": 1,
                    "reason": f"等了{NUL}太久",
                    "rated_at": "2026-12-01T08:00:00+08:00",
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("kind", sorted(HOLDING_NUL))
def test_a_message_with_a_nul_in_a_text_is_dead_lettered_and_the_group_is_committed(hub, kind):
    register_terminal(hub.engine, "T1", "JW001")
    topic, body = HOLDING_NUL[kind]
    _committed_with(hub, (topic, _message(kind, "T1", body)))
    assert _letters(hub) == [("T1", "schema_invalid")]


def test_a_sealed_case_with_a_nul_inside_is_refused_and_the_others_stored(hub):
    register_terminal(hub.engine, "T1", "JW001")
    good, bad = submission(1), submission(2)
    bad = bad.model_copy(update={"item_code": f"MZ-001{NUL}"})
    batch = CaseBatch(terminal="T1", body=CaseBatchBody(cases=[seal(good), seal(bad)]))
    _committed_with(hub, (topics.up("T1", topics.Up.CASES), batch.encode()))
    assert _letters(hub) == [("T1", "sealed_invalid")]
    with hub.engine.connect() as conn:
        assert conn.execute(text("SELECT case_id FROM cases")).scalars().all() == [str(good.case_id)]
