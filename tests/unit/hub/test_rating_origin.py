"""Ratings speak for the committee whose kiosk sent them, as cases do (the hub's register says which committee a
terminal serves, not the message): a rating naming another committee, or rating a case of another committee, is
refused with a dead letter and not counted, and opens no return call — else one terminal's credentials would
send clerks to call another committee's residents and move its satisfaction figures. A terminal that is not in
the register has no ratings taken. The terminal's own ratings are taken as before.

Through the real ingest handler on SQLite and PostgreSQL; the expected values are the test's own ratings.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from hub.db.engine import open_engine
from hub.db.models import RatingRow, table
from protocol import topics
from protocol.cases import Ack
from protocol.envelope import utcnow
from protocol.ratings import Rating, RatingBatch, RatingBatchBody, RatingLevel
from tests.support import register_terminal
from tests.unit.hub.helpers import handler, ingest

_ratings = table(RatingRow)


@pytest.fixture
def engine(hub_db_url):
    e = open_engine(hub_db_url)
    yield e
    e.dispose()


def _rating(committee: str, case_id: str | None = None, level: int = 1) -> Rating:
    return Rating(
        rating_id=uuid.uuid4(),
        case_id=uuid.UUID(case_id) if case_id else None,
        item_code="MZ-001" if case_id else "",
        committee=committee,
        level=RatingLevel(level),
        reason="等了太久",
        rated_at=utcnow(),
    )


def _send(engine, terminal: str, *ratings: Rating) -> Ack:
    batch = RatingBatch(terminal=terminal, body=RatingBatchBody(ratings=list(ratings)))
    (reply,) = handler(engine).handle(topics.up(terminal, topics.Up.RATINGS), batch.encode(), utcnow())
    return Ack.model_validate_json(reply[1])


def _ids(engine, sql: str) -> set[str]:
    with engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(text(sql)).all()}


def test_a_terminal_rates_only_for_its_own_committee_and_its_cases(engine):
    (case_id,) = ingest(engine, ["MZ-001"], terminal="T1")  # T1 serves JW001
    register_terminal(engine, "T2", "JW002")
    own_visit = _rating("JW002")
    as_other = _rating("JW001", case_id)  # T2 speaking for JW001
    others_case = _rating("JW002", case_id)  # JW001's case, rated as if JW002's
    ack = _send(engine, "T2", own_visit, as_other, others_case)
    assert ack.body.acked == [own_visit.rating_id]
    refused = {(r.item_id, r.reason.value) for r in ack.body.rejected}
    assert refused == {(as_other.rating_id, "committee_mismatch"), (others_case.rating_id, "committee_mismatch")}
    assert _ids(engine, "SELECT rating_id FROM ratings") == {str(own_visit.rating_id)}
    assert _ids(engine, "SELECT rating_id FROM return_calls") == {str(own_visit.rating_id)}
    assert _ids(engine, "SELECT reason FROM dead_letters") == {"committee_mismatch"}
    with engine.connect() as conn:
        kept = b"".join(bytes(p) for (p,) in conn.execute(text("SELECT payload FROM dead_letters")).all())
    assert "等了太久".encode() not in kept, "a resident's words are not kept in a dead letter"

    own_case = _rating("JW001", case_id, level=5)
    assert _send(engine, "T1", own_case).body.acked == [own_case.rating_id], "the case's own committee rates it"


def test_an_unregistered_terminal_has_no_ratings_taken(engine):
    rating = _rating("JW009")
    ack = _send(engine, "T9", rating)
    assert ack.body.acked == []
    assert [(r.item_id, r.reason.value) for r in ack.body.rejected] == [(rating.rating_id, "unregistered_terminal")]
    assert _ids(engine, "SELECT rating_id FROM ratings") == set()


def test_a_case_is_rated_once_however_often_its_rating_comes_and_a_second_rating_is_refused(engine):
    """一事一评: the terminal refuses a second rating of a case; the hub keeps to it too (a terminal whose store
    was lost, or a hostile one, would otherwise count a case twice and open a return call per rating)."""
    (case_id,) = ingest(engine, ["MZ-001"], terminal="T1")
    first, second = _rating("JW001", case_id), _rating("JW001", case_id)
    assert _send(engine, "T1", first).body.acked == [first.rating_id]
    again = _send(engine, "T1", first)
    assert again.body.acked == [first.rating_id] and again.body.rejected == [], "redelivered: acked again"
    refused = _send(engine, "T1", second)
    assert refused.body.acked == []
    assert [(r.item_id, r.reason.value) for r in refused.body.rejected] == [(second.rating_id, "conflict")]
    both = _send(engine, "T1", _rating("JW001", ingest(engine, ["MZ-001"], terminal="T1")[0]), second)
    assert len(both.body.acked) == 1 and [r.reason.value for r in both.body.rejected] == ["conflict"]
    assert len(_ids(engine, "SELECT rating_id FROM ratings")) == 2
    assert len(_ids(engine, "SELECT rating_id FROM return_calls")) == 2


def test_ratings_from_a_terminal_whose_clock_is_a_year_ahead_are_dated_by_the_hubs_clock(engine):
    """Reports count a rating in the period it was made (rated_at); a kiosk whose clock runs a year ahead would
    move its ratings out of this month's report. Past the skew alert (300 s), as for cases, the hub keeps its
    own time: the rating's time moved by the batch's own offset (sent_at against arrival). A clock a minute
    off is left alone."""
    register_terminal(engine, "T1", "JW001")
    now = utcnow().replace(microsecond=0)
    for ahead, expected in ((timedelta(days=365), now - timedelta(hours=1)), (timedelta(minutes=1), None)):
        rating = _rating("JW001").model_copy(update={"rated_at": now + ahead - timedelta(hours=1)})
        batch = RatingBatch(terminal="T1", sent_at=now + ahead, body=RatingBatchBody(ratings=[rating]))
        handler(engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), now)
        with engine.connect() as conn:
            stored = conn.execute(select(_ratings.c.rated_at).where(_ratings.c.rating_id == str(rating.rating_id)))
            assert stored.scalar_one() == (expected or rating.rated_at)


def test_a_rating_re_dated_across_midnight_is_reconciled_under_the_terminals_day(engine):
    """A kiosk ten minutes fast stamps a rating made at 23:55 in Shanghai with 00:05 the next day; the hub
    files it at 23:55 for the reports. Reconciliation files items under the terminal's own day on both sides
    (edge.night.ledger): the hub had it under the day before, so every night the terminal was told the hub
    lacked it, resent it, and could never purge it."""
    from datetime import UTC, date, datetime

    from hub.night.reconcile import _lines

    register_terminal(engine, "T1", "JW001")
    true_time = datetime(2026, 3, 10, 15, 55, tzinfo=UTC)  # 23:55 on 10 March in Shanghai
    fast = timedelta(minutes=10)
    rating = _rating("JW001").model_copy(update={"rated_at": true_time + fast})  # 00:05 on 11 March, as stamped
    batch = RatingBatch(terminal="T1", sent_at=true_time + fast, body=RatingBatchBody(ratings=[rating]))
    handler(engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), true_time)
    with engine.connect() as conn:
        assert conn.execute(select(_ratings.c.rated_at)).scalar_one() == true_time  # the reports' time
        held = _lines(conn, "T1", date(2026, 3, 10), date(2026, 3, 11), lambda: None)
    assert {day: list(lines) for day, lines in held.items()} == {date(2026, 3, 11): [str(rating.rating_id)]}
