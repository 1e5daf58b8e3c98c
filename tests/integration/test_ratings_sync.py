"""A resident rates a case at the kiosk; the rating travels through the outbox like a case and lands
at the hub once, with its department, however often it is sent."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from edge.store.cases import NewCase
from edge.store.ratings import AlreadyRated
from protocol import topics
from protocol.envelope import utcnow
from protocol.ratings import Rating, RatingBatch, RatingBatchBody, RatingLevel
from tests.support import RawTerminal, applicant, hub_count, register_terminal, wait_for


def test_a_rating_reaches_the_hub_once_and_a_case_is_rated_only_once(hub_factory, edge_factory):
    hub = hub_factory()
    edge = edge_factory()
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    rating = edge.ratings.rate(RatingLevel.DISSATISFIED, "等候时间太长", case_id=str(case.case_id))
    with pytest.raises(AlreadyRated):
        edge.ratings.rate(RatingLevel.SATISFIED, case_id=str(case.case_id))
    edge.ratings.rate(RatingLevel.VERY_SATISFIED)  # a visit without a case
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="case and ratings acked")
    assert hub_count(hub.engine, "SELECT count(*) FROM ratings") == 2
    with hub.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT level, reason, department, receipt_no FROM ratings WHERE rating_id = ?"
            if hub.engine.dialect.name == "sqlite"
            else "SELECT level, reason, department, receipt_no FROM ratings WHERE rating_id = %s",
            (str(rating.rating_id),),
        ).one()
    assert tuple(row) == (2, "等候时间太长", "minzheng", case.receipt_no)


@pytest.fixture
def raw(broker):
    r = RawTerminal(broker.port)
    yield r
    r.close()


def test_a_ratings_reason_is_sealed_on_the_terminal_and_read_only_at_the_hub(hub_factory, edge_factory, raw):
    """What a resident typed beside a rating may name people: a thief reading the terminal's files finds
    none of it; the hub opens it. A sealed reason moved to another rating is dead-lettered, the rating kept."""
    hub = hub_factory()
    edge = edge_factory()
    words = "窗口的李师傅让我跑了三趟 13912345678"
    rating = edge.ratings.rate(RatingLevel.VERY_DISSATISFIED, words)
    stored = b"".join(p.read_bytes() for p in edge.settings.db_path.parent.glob(edge.settings.db_path.name + "*"))
    for clear in (words, "李师傅", "13912345678"):
        assert clear.encode() not in stored and clear.encode("utf-16-le") not in stored
    edge.start_sync()
    wait_for(lambda: edge.outbox.stats().depth == 0, what="rating acked")
    assert _reason(hub, rating.rating_id) == words

    # A terminal (here a bare MQTT client) sends a rating carrying another rating's sealed reason.
    register_terminal(hub.engine, "T9", "JW009")
    moved = Rating(
        rating_id=uuid.uuid4(),
        committee="JW009",
        level=RatingLevel.DISSATISFIED,
        sealed_reason=rating.sealed_reason,
        rated_at=utcnow(),
    )
    raw.publish(
        topics.up("T9", topics.Up.RATINGS), RatingBatch(terminal="T9", body=RatingBatchBody(ratings=[moved])).encode()
    )
    wait_for(lambda: any(moved.rating_id in a.body.acked for a in raw.acks()), what="the moved rating acked")
    assert _reason(hub, moved.rating_id) == ""  # kept, with its level, without words that are not its own
    with hub.engine.connect() as conn:
        letter = conn.execute(text("SELECT reason, item_id FROM dead_letters")).one()
    assert tuple(letter) == ("sealed_invalid", str(moved.rating_id))


def _reason(hub, rating_id: uuid.UUID) -> str:
    with hub.engine.connect() as conn:
        return conn.execute(text("SELECT reason FROM ratings WHERE rating_id = :r"), {"r": str(rating_id)}).scalar_one()
