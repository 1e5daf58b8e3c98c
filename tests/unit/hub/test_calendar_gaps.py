"""The hub says which years it counts due dates in without a holiday arrangement: this year, the next from
November (the State Council publishes it in October or November), and any year an open case falls due in.
The database holds the shipped 2026 arrangement only; the dates are worked by hand. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarGap, CalendarService
from hub.cases.states import Action
from hub.cases.workflow import Workflow
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from hub.people.service import Users
from tests.unit.hub.helpers import add_users, ingest


@pytest.fixture
def centre(hub_db_url):
    engine = open_engine(hub_db_url)
    store = CatalogueStore(engine)
    store.bootstrap()
    in_force = CatalogueInForce(store, check_s=0)
    calendar = CalendarService(engine, check_s=0)
    departments = lambda: {d.code: d.name for d in in_force.current().departments}  # noqa: E731
    flow = Workflow(engine, DueDates(calendar, in_force.current), departments)
    people = add_users(Users(engine, departments))
    yield engine, calendar, flow, people["manager"]
    engine.dispose()


def test_next_years_arrangement_is_asked_for_from_november_and_for_cases_due_in_it(centre):
    engine, calendar, flow, manager = centre
    assert calendar.gaps(date(2026, 10, 31)) == []  # 2026 entered; 2027's not published yet
    assert calendar.gaps(date(2026, 11, 1)) == [CalendarGap(2027, 0)]

    # Wednesday 30 December 2026 + 3 working days: Thu 31, Fri 1 (no holiday known), Mon 4 January 2027.
    (case,) = ingest(engine, ["GA-003"], at=datetime(2026, 12, 30, 2, tzinfo=UTC))
    assert calendar.gaps(date(2026, 10, 31)) == [CalendarGap(2027, 1)]  # a case due then: asked for already
    assert calendar.gaps(date(2026, 12, 30)) == [CalendarGap(2027, 1)]

    flow.act(manager, case, Action.ACCEPT, 1)
    flow.act(manager, case, Action.COMPLETE, 2)
    assert calendar.gaps(date(2026, 12, 31)) == [CalendarGap(2027, 0)]  # decided: no longer counted

    calendar.set_day(date(2027, 1, 1), "off", "元旦", "user:manager")
    assert calendar.gaps(date(2026, 12, 31)) == []
    assert calendar.gaps(date(2027, 6, 1)) == []
    assert calendar.gaps(date(2028, 1, 3)) == [CalendarGap(2028, 0)]  # this year, whatever the month
