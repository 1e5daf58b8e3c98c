"""A resident rates a case at the kiosk; the rating travels through the outbox like a case and lands
at the hub once, with its department, however often it is sent."""

from __future__ import annotations

import pytest

from edge.store.cases import NewCase
from edge.store.ratings import AlreadyRated
from protocol.ratings import RatingLevel
from tests.support import applicant, hub_count, wait_for


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
