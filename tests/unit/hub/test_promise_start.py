"""A case's promised time runs from the day the committee accepted it, as its receipt says, not from the
day it reached the hub.

The kiosk prints the due date counted from its own day at once (the VPN is not on that path); a case
accepted offline on Friday afternoon reaches the hub on Monday morning. The hub counted from Monday: the
centre's supervision, cards, in-time verdicts and statutory dates ran a weekend later than the resident's
receipt. The expected dates are counted by hand on the 2026 calendar (6–27 March 2026 has no holiday);
GA-003 promises 3 working days, MZ-006 10, both with a statutory limit of 15. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.states import Action
from hub.cases.workflow import Workflow
from hub.catalogue.in_force import CatalogueInForce
from hub.catalogue.store import CatalogueStore
from hub.db.engine import open_engine
from hub.db.models import CaseRow, CaseWorkRow, table
from hub.people.service import Users
from protocol.catalogue import load_seed
from tests.unit.hub.helpers import add_users, ingest


def shanghai(day: str, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` in Shanghai on ``day``, as a UTC instant (Shanghai is UTC+8 all year)."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC) - timedelta(hours=8)


FRIDAY_4PM = shanghai("2026-03-06", 16)
MONDAY_9AM = shanghai("2026-03-09", 9)


class Clock:
    now = MONDAY_9AM

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def centre(hub_db_url):
    engine = open_engine(hub_db_url)
    in_force = CatalogueInForce(CatalogueStore(engine), check_s=0)
    calendar = CalendarService(engine, check_s=0, today=lambda: date(2026, 3, 2))  # edited in these tests' March
    clock = Clock()
    departments = lambda: {d.code: d.name for d in in_force.current().departments}  # noqa: E731
    flow = Workflow(engine, DueDates(calendar, in_force.item), departments, clock=clock)
    people = add_users(Users(engine, departments))
    yield engine, calendar, flow, people["manager"], clock
    engine.dispose()


def _row(engine, case_id: str) -> dict:
    cases, work = table(CaseRow), table(CaseWorkRow)
    with engine.connect() as conn:
        row = dict(conn.execute(select(cases).where(cases.c.case_id == case_id)).mappings().one())
        done = conn.execute(select(work).where(work.c.case_id == case_id)).mappings().first()
    return {**row, **(dict(done) if done else {})}


def test_the_seed_promises_what_the_hand_counts_below_assume():
    seed = load_seed()
    assert [(seed.get(c).promised_days, seed.get(c).statutory_days) for c in ("GA-003", "MZ-006")] == [
        (3, 15),
        (10, 15),
    ]


def test_a_case_accepted_offline_on_friday_is_due_as_its_receipt_says_though_it_arrived_on_monday(centre):
    engine, calendar, flow, manager, clock = centre
    quick, longer = ingest(engine, ["GA-003", "MZ-006"], created=FRIDAY_4PM, at=MONDAY_9AM)

    assert _row(engine, quick)["due_date"] == date(2026, 3, 11)  # Mon 9, Tue 10, Wed 11 (not Thu 12)
    row = _row(engine, longer)
    assert row["due_date"] == date(2026, 3, 20)  # 9–13, 16–20 (not Mon 23)
    assert row["statutory_due"] == date(2026, 3, 27)  # 9–13, 16–20, 23–27 (not Mon 30)

    # Decided on Monday 23 March: three days after the date the resident holds, so late; processing time
    # runs from Friday 16:00, when the resident handed the application in.
    clock.now = shanghai("2026-03-23", 10)
    flow.act(manager, longer, Action.ACCEPT, 1)
    flow.act(manager, longer, Action.COMPLETE, 2)
    done = _row(engine, longer)
    assert (done["in_time"], done["statutory_in_time"]) == (False, True)
    assert done["processing_s"] == (16 * 24 + 18) * 3600  # Fri 6 Mar 16:00 → Mon 23 Mar 10:00

    # A calendar edit counts again from the same Friday: Tuesday 10 March off → Mon 9, Wed 11, Thu 12.
    calendar.set_day(date(2026, 3, 10), "off", "临时停业", "user:manager")
    assert _row(engine, quick)["due_date"] == date(2026, 3, 12)  # from Monday it would be Fri 13


def test_a_terminal_whose_clock_is_off_counts_from_the_hubs_receipt(centre):
    engine, *_ = centre
    # The terminal's clock says Monday 08:00 when the hub's says 09:00: its Friday cannot be trusted.
    (case,) = ingest(engine, ["GA-003"], created=FRIDAY_4PM, sent=shanghai("2026-03-09", 8), at=MONDAY_9AM)
    row = _row(engine, case)
    assert row["clock_skew_s"] == 3600
    assert row["due_date"] == date(2026, 3, 12)  # Tue 10, Wed 11, Thu 12


def test_a_case_never_counts_from_after_it_arrived(centre):
    engine, *_ = centre
    # A clock two minutes fast (within what the hub tolerates) makes a case at 23:59 on Friday look like
    # Saturday's: it arrived on Friday, so it counts from Friday.
    friday_late = shanghai("2026-03-06", 23, 59)
    saturday = friday_late + timedelta(minutes=2)
    (case,) = ingest(engine, ["GA-003"], created=saturday, sent=saturday, at=friday_late)
    row = _row(engine, case)
    assert row["clock_skew_s"] is None
    assert row["due_date"] == date(2026, 3, 11)  # from Saturday: Thu 12
