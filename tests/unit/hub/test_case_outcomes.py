"""Issue 11 on a real database, through real ingest and the workflow, as a clerk or a manager meets it:

- an immediate item done on the spot (当场办结) reaches the hub completed, by the committee or the staff
  member who did it, in time and counted in the reports; one with a back-office step waits for a clerk;
- 不予受理 (refused at acceptance) and 不予批准 (decided against after review) are distinct outcomes with
  the same words on the kiosk, the hub and the reports;
- the statutory time limit (法定办结时限) is watched with its own warning, moved by 补正 like the due date,
  and counted in the reports when passed;
- a bad rating opens a return call (回访整改) for the item's department, due in working days, recorded
  by one of its clerks and counted in the reports.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from edge.kiosk.i18n import translator
from hub.audit.chain import verify
from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.messages import ACTION_LABELS, STATUS_LABELS
from hub.cases.queries import CaseQueries
from hub.cases.returncalls import ReturnCalls
from hub.cases.states import Action
from hub.cases.workflow import InvalidAction, Workflow
from hub.db.engine import open_engine
from hub.db.models import CaseRow, CaseWorkRow
from hub.errors import HubError, PermissionDenied
from hub.people.service import Users
from hub.reports.service import Period, build
from protocol import topics
from protocol.cases import CaseStatus
from protocol.catalogue import load_seed
from protocol.ratings import Rating, RatingBatch, RatingBatchBody, RatingLevel
from protocol.statuses import glossary
from protocol.workdays import add_working_days
from tests.unit.hub.helpers import add_users, handler, ingest

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(hub_db_url):
    engine = open_engine(hub_db_url)
    catalogue = load_seed()
    clock = Clock(MONDAY)
    calendar = CalendarService(engine)
    due = DueDates(calendar, catalogue.get)
    departments = {d.code: d.name for d in catalogue.departments}
    flow = Workflow(engine, due, lambda: departments, clock=clock)
    people = add_users(Users(engine, lambda: departments))
    queries = CaseQueries(engine, lambda: catalogue, calendar, catalogue.get)
    yield engine, flow, people, clock, queries, calendar
    engine.dispose()


def _case(engine, case_id):
    t = CaseRow.__table__
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.case_id == case_id)).mappings().one()


def _work(engine, case_id):
    t = CaseWorkRow.__table__
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.case_id == case_id)).mappings().one()


def _events(engine, case_id):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT version, status, actor FROM case_events WHERE case_id = :c ORDER BY version"), {"c": case_id}
        ).all()


def _report(engine, today=date(2026, 3, 31)):
    return build(engine, MARCH, catalogue=load_seed(), today=today)


# ----------------------------------------------------------------------------- item 2: done on the spot
def test_an_item_done_on_the_spot_arrives_completed_by_who_did_it_and_counts_in_time(env):
    engine, _, people, _, queries, _ = env
    (by_staff,) = ingest(engine, ["MZ-004"], at=MONDAY, agent="sw-li")  # 助餐登记, a social worker's 代办
    (by_resident,) = ingest(engine, ["MZ-004"], at=MONDAY, start=1)  # the resident alone at the kiosk
    (back_office,) = ingest(engine, ["RS-001"], at=MONDAY, start=2)  # 就业登记: staff enter it the same day

    for case_id, actor in ((by_staff, "staff:sw-li"), (by_resident, "committee:JW001")):
        assert _case(engine, case_id)["status"] == "completed" and _case(engine, case_id)["version"] == 2
        assert _events(engine, case_id) == [(1, "submitted", "hub"), (2, "completed", actor)]
        work = _work(engine, case_id)
        assert (work["outcome"], work["in_time"], work["statutory_in_time"]) == ("completed", True, True)
    assert _case(engine, back_office)["status"] == "submitted"

    # the clerks' queue holds only what still needs a clerk: the 就业登记, due today (a yellow card)
    queue = queries.queue(people["clerk_rs"], today=date(2026, 3, 2))
    assert [(i.case_id, i.light) for i in queue.items] == [(back_office, "yellow")]

    item = {f.code: f for f in _report(engine).items}["MZ-004"]
    assert (item.received, item.completed, item.in_time_share) == (2, 2, 1.0)
    with engine.connect() as conn:
        assert verify(conn)[1] is None


# ----------------------------------------------------------------------------- item 11: one term per status
def test_refused_at_acceptance_and_rejected_after_review_are_two_outcomes_with_one_name_each(env):
    engine, flow, people, _, _, _ = env
    clerk = people["clerk_mz"]
    refused, rejected = ingest(engine, ["MZ-006", "MZ-006"], at=MONDAY)
    assert flow.act(clerk, refused, Action.REFUSE, 1, "申请人不在本街道居住").event.status is CaseStatus.REFUSED
    flow.act(clerk, rejected, Action.ACCEPT, 1)
    with pytest.raises(InvalidAction):
        flow.act(clerk, rejected, Action.REFUSE, 2, "晚了")  # accepted already: only 不予批准 is left
    assert flow.act(clerk, rejected, Action.REJECT, 2, "家庭收入超过标准").event.status is CaseStatus.REJECTED

    total = _report(engine).total
    assert (total.refused, total.rejected, total.decided) == (1, 1, 2)
    # the same words on the hub (statuses and the buttons), the kiosk and in English
    assert STATUS_LABELS["refused"] == ACTION_LABELS[Action.REFUSE] == translator("zh")("case.refused") == "不予受理"
    assert STATUS_LABELS["rejected"] == ACTION_LABELS[Action.REJECT] == translator("zh")("case.rejected") == "不予批准"
    assert translator("en")("case.refused") == "Not accepted" and translator("en")("case.rejected") == "Not approved"


def test_every_status_has_one_distinct_official_term_in_each_language():
    terms = glossary()
    assert set(terms) == set(CaseStatus)
    assert len({t.zh for t in terms.values()}) == len(terms) == len({t.en for t in terms.values()})
    for status, t in terms.items():
        assert translator("zh")(f"case.{status.value}") == STATUS_LABELS[status] == t.zh


# ----------------------------------------------------------------------------- item 12: statutory time limit
def test_the_statutory_limit_has_its_own_warning_moves_with_a_pause_and_counts_when_passed(env):
    engine, flow, people, clock, queries, calendar = env
    cal = calendar.calendar()
    (case_id,) = ingest(engine, ["GA-003"], at=MONDAY)  # 居住证签注: promised 3 working days, statutory 15
    case = _case(engine, case_id)
    law_due = add_working_days(date(2026, 3, 2), 15, cal)
    assert (case["statutory_days"], case["statutory_due"]) == (15, law_due)
    assert case["due_date"] == add_working_days(date(2026, 3, 2), 3, cal)

    manager = people["manager"]
    # two working days before the statutory date: promised time long past (red), the law's warning on
    warn_day = law_due - timedelta(days=2)
    board = queries.overdue(manager, today=warn_day)
    assert [i.case_id for i in board.red] == [case_id]
    assert [i.case_id for i in board.statutory_yellow] == [case_id] and board.statutory_red == []
    ga = {d.department: d for d in board.departments}["GA"]
    assert (ga.red, ga.statutory_yellow, ga.statutory_red) == (1, 1, 0)
    # the day after it: past the statutory limit
    board = queries.overdue(manager, today=law_due + timedelta(days=1))
    assert [i.case_id for i in board.statutory_red] == [case_id] and board.statutory_yellow == []

    # a 补正 pause of three working days moves the statutory date by three as well
    flow.act(manager, case_id, Action.ACCEPT, 1)
    flow.act(manager, case_id, Action.REQUEST_MATERIALS, 2, "请补照片", ["近期一寸免冠照片"])
    clock.now = MONDAY + timedelta(days=3)  # Thursday
    flow.act(manager, case_id, Action.RESUME, 3)
    moved = add_working_days(law_due, 3, cal)
    assert _case(engine, case_id)["statutory_due"] == moved

    clock.now = datetime.combine(moved + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=2)
    flow.act(manager, case_id, Action.COMPLETE, 4)
    assert _work(engine, case_id)["statutory_in_time"] is False
    report = build(engine, Period(date(2026, 3, 1), date(2026, 4, 30)), catalogue=load_seed(), today=date(2026, 4, 30))
    assert {f.code: f for f in report.items}["GA-003"].over_statutory == 1


# ----------------------------------------------------------------------------- item 13: return calls
def _rate(engine, case_id: str, level: RatingLevel, reason: str, at: datetime, rating_id: uuid.UUID) -> None:
    rating = Rating(
        rating_id=rating_id,
        case_id=uuid.UUID(case_id),
        receipt_no=_case(engine, case_id)["receipt_no"],
        item_code=_case(engine, case_id)["item_code"],
        committee="JW001",
        level=level,
        reason=reason,
        rated_at=at,
    )
    batch = RatingBatch(terminal="T1", seq=90, sent_at=at, body=RatingBatchBody(ratings=[rating]))
    handler(engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), at)


def test_a_bad_rating_opens_a_return_call_for_the_department_that_its_clerk_records(env):
    engine, _, people, _, _, calendar = env
    bad, good = ingest(engine, ["MZ-006", "MZ-006"], at=MONDAY)
    bad_id = uuid.uuid4()
    _rate(engine, bad, RatingLevel.VERY_DISSATISFIED, "等了太久", MONDAY, bad_id)
    _rate(engine, bad, RatingLevel.VERY_DISSATISFIED, "等了太久", MONDAY, bad_id)  # delivered again
    _rate(engine, good, RatingLevel.SATISFIED, "", MONDAY, uuid.uuid4())

    calls = ReturnCalls(engine, clock=lambda: MONDAY + timedelta(days=3))
    (call,) = calls.listing(people["manager"], ["MZ", "RS"])
    assert (call.department, call.item_code, call.level, call.reason) == ("MZ", "MZ-006", 1, "等了太久")
    assert call.due_date == add_working_days(date(2026, 3, 2), 15, calendar.calendar())
    assert calls.listing(people["clerk_rs"], ["RS"]) == []

    with pytest.raises(PermissionDenied):
        calls.record(people["clerk_rs"], str(bad_id), True, "已回访")
    with pytest.raises(HubError):
        calls.record(people["clerk_mz"], str(bad_id), True, "  ")  # the outcome must be written
    done = calls.record(people["clerk_mz"], str(bad_id), True, "已致电说明办理进度，窗口增加导办")
    assert (done.done_by, done.reached, done.late(date(2026, 3, 5))) == ("clerk_mz", True, False)
    with pytest.raises(HubError):
        calls.record(people["manager"], str(bad_id), False, "再记一次")

    mz = {f.code: f for f in _report(engine).departments}["MZ"]
    assert (mz.return_calls, mz.return_calls_done, mz.return_calls_late) == (1, 1, 0)
    with engine.connect() as conn:
        assert verify(conn)[1] is None
        assert (
            conn.execute(text("SELECT action FROM audit ORDER BY id DESC LIMIT 1")).scalar() == "return_call.recorded"
        )


def test_a_return_call_not_made_by_its_deadline_counts_as_late(env):
    engine, _, people, _, _, _ = env
    (case_id,) = ingest(engine, ["MZ-006"], at=MONDAY)
    _rate(engine, case_id, RatingLevel.DISSATISFIED, "态度不好", MONDAY, uuid.uuid4())
    (call,) = ReturnCalls(engine).listing(people["clerk_mz"], ["MZ"], open_only=True)
    assert call.late(call.due_date + timedelta(days=1)) and not call.late(call.due_date)
    mz = {f.code: f for f in _report(engine, today=date(2026, 3, 31)).departments}["MZ"]
    assert (mz.return_calls, mz.return_calls_done, mz.return_calls_late) == (1, 0, 1)


def test_two_clerks_recording_one_return_call_at_once_keep_the_first_record(env):
    """Two clerks record the same call at the same moment: the one whose record commits first keeps it, the
    other is told it is done — never a silent overwrite of the first's outcome. The second clerk's transaction
    is held on the call's row (by the test's own connection, as the first clerk's would hold it) between its
    read and its write; on SQLite a transaction takes the database's write lock first, so the two are always
    one after the other."""
    engine, _, people, _, _, _ = env
    (case_id,) = ingest(engine, ["MZ-006"], at=MONDAY)
    rating_id = uuid.uuid4()
    _rate(engine, case_id, RatingLevel.VERY_DISSATISFIED, "等了太久", MONDAY, rating_id)
    calls = ReturnCalls(engine, clock=lambda: MONDAY + timedelta(days=1))
    if engine.dialect.name != "postgresql":
        calls.record(people["clerk_mz"], str(rating_id), True, "第一位经办人")
        with pytest.raises(HubError):
            calls.record(people["manager"], str(rating_id), False, "第二位")
        return
    first = engine.connect()
    tx = first.begin()
    first.execute(text("SELECT 1 FROM return_calls WHERE rating_id = :r FOR UPDATE"), {"r": str(rating_id)})
    outcome: list[object] = []

    def second_clerk() -> None:
        try:
            outcome.append(calls.record(people["manager"], str(rating_id), False, "第二位"))
        except HubError as exc:
            outcome.append(exc)

    clerk = threading.Thread(target=second_clerk)
    clerk.start()
    deadline = time.monotonic() + 10
    while not _waiting_on_a_lock(engine) and time.monotonic() < deadline:  # read done, its write waits
        time.sleep(0.02)
    first.execute(
        text("UPDATE return_calls SET done_at = :at, done_by = 'clerk_mz', outcome = :o WHERE rating_id = :r"),
        {"at": MONDAY + timedelta(days=1), "o": "第一位经办人", "r": str(rating_id)},
    )
    tx.commit()
    first.close()
    clerk.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], HubError), outcome
    (call,) = ReturnCalls(engine).listing(people["manager"], ["MZ"])
    assert (call.done_by, call.outcome) == ("clerk_mz", "第一位经办人")


_LOCK_WAITS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"


def _waiting_on_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(_LOCK_WAITS)).scalar())


def test_a_return_call_that_did_not_reach_the_resident_is_counted_apart(env):
    """The review: 未能联系到申请人 closed the call and counted it 已回访 (the report said 1 / 3 done)."""
    engine, _, people, _, _, _ = env
    reached, missed = ingest(engine, ["MZ-006", "MZ-006"], at=MONDAY)
    ids = [uuid.uuid4(), uuid.uuid4()]
    _rate(engine, reached, RatingLevel.DISSATISFIED, "态度不好", MONDAY, ids[0])
    _rate(engine, missed, RatingLevel.DISSATISFIED, "等了太久", MONDAY, ids[1])
    calls = ReturnCalls(engine, clock=lambda: MONDAY + timedelta(days=1))
    calls.record(people["clerk_mz"], str(ids[0]), True, "已致电道歉并说明")
    calls.record(people["clerk_mz"], str(ids[1]), False, "未能联系到申请人")
    mz = {f.code: f for f in _report(engine).departments}["MZ"]
    assert (mz.return_calls, mz.return_calls_done, mz.return_calls_unreached) == (2, 2, 1)
