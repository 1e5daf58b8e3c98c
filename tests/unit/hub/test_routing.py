"""Classified routing (后台分类处理) for every item of the seed catalogue: a case submitted at a terminal
lands in its deciding department's queue with its promised due date, in no other clerk's queue, and in
the manager's; an item nobody claims goes to the centre's general queue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.calendar.service import CalendarService
from hub.cases.queries import CaseQueries
from hub.cases.routing import UNROUTED, Router
from hub.db.engine import open_engine
from hub.errors import PermissionDenied
from hub.people.service import Users
from protocol.catalogue import load_seed
from tests.unit.hub.helpers import ingest

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
#: Counted by hand on a calendar: the working days after Monday 2 March 2026 (no holiday in March), for
#: each promised time the seed catalogue uses; an immediate item (0) is due the day it arrives.
DUE_FROM_MONDAY = {
    0: date(2026, 3, 2),
    3: date(2026, 3, 5),
    5: date(2026, 3, 9),
    7: date(2026, 3, 11),
    10: date(2026, 3, 16),
    15: date(2026, 3, 23),
    20: date(2026, 3, 30),
}


def test_a_router_of_the_seed_sends_every_item_to_its_department():
    catalogue = load_seed()
    router = Router.of(catalogue)
    assert len(router) == len(catalogue.items) == 50
    for item in catalogue.items:
        assert router.department(item.code) == item.department
    assert router.department("XX-001") == UNROUTED


@pytest.fixture
def routed(hub_db_url):
    engine = open_engine(hub_db_url)
    catalogue = load_seed()
    ids = ingest(engine, [i.code for i in catalogue.items] + ["XX-001"], at=MONDAY)
    queries = CaseQueries(engine, lambda: catalogue, CalendarService(engine), catalogue.get)
    users = Users(engine)
    yield engine, catalogue, dict(zip([i.code for i in catalogue.items] + ["XX-001"], ids, strict=True)), queries, users
    engine.dispose()


def test_every_seed_item_reaches_its_departments_queue_with_its_due_date(routed):
    engine, catalogue, ids, queries, users = routed
    manager = users.add("boss", "manager-pass-1", "manager")
    everything = queries.queue(manager, limit=500, today=MONDAY.date())
    waiting = [i for i in catalogue.items if not i.done_on_spot]  # those done on the spot arrive completed
    assert everything.total == len(waiting) + 1 == 49  # 50 items, 2 done on the spot, and one unknown
    by_id = {i.case_id: i for i in everything.items}
    for item in catalogue.items:
        if item.done_on_spot:
            assert queries.record(manager, ids[item.code]).status == "completed"
            continue
        case = by_id[ids[item.code]]
        assert (case.department, case.item_name) == (item.department, item.name)
        assert case.due_date == DUE_FROM_MONDAY[item.promised_days]
    assert by_id[ids["XX-001"]].department == UNROUTED and by_id[ids["XX-001"]].due_date is None

    for dept in catalogue.departments:
        clerk = users.add(f"clerk-{dept.code.lower()}", "clerk-pass-1", "clerk", [dept.code])
        mine = queries.queue(clerk, limit=500, today=MONDAY.date())
        assert sorted(i.item_code for i in mine.items) == sorted(
            i.code for i in catalogue.items_of(dept.code) if not i.done_on_spot
        )
        other = next(d.code for d in catalogue.departments if d.code != dept.code)
        with pytest.raises(PermissionDenied):
            queries.queue(clerk, department=other)
        with pytest.raises(PermissionDenied):
            queries.detail(clerk, ids[catalogue.items_of(other)[0].code])
