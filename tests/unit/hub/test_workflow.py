"""The case workflow on a real database: the state machine with who may move a case where; one
transaction per change (status and version, the event, the audit entry under the user's name); two
clerks acting on the same version (one wins); the single 补正 notice that stops the clock and moves
the due date by the working days it lasted; decisions that need a reason; a manager's re-routing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hub.audit.chain import verify
from hub.calendar.duedates import DueDates
from hub.calendar.service import CalendarService
from hub.cases.states import Action
from hub.cases.workflow import CaseConflict, InvalidAction, Workflow
from hub.db.engine import open_engine
from hub.db.models import CaseRow, CaseWorkRow, table
from hub.errors import NotFound, PermissionDenied
from hub.people.service import Users
from protocol.catalogue import load_seed
from tests.unit.hub.helpers import add_users, ingest

A = Action
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


class Clock:
    """The workflow's clock, moved by the test (days pass between a notice and the materials)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(hub_db_url):
    engine = open_engine(hub_db_url)
    catalogue = load_seed()
    clock = Clock(MONDAY)
    due = DueDates(CalendarService(engine), catalogue.get)
    departments = {d.code: d.name for d in catalogue.departments}
    flow = Workflow(engine, due, lambda: departments, clock=clock)
    people = add_users(Users(engine, lambda: departments))
    yield engine, flow, people, clock
    engine.dispose()


def _case(engine, case_id):
    t = table(CaseRow)
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.case_id == case_id)).mappings().one()


def _events(engine, case_id):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT version, status, actor, note FROM case_events WHERE case_id = :c ORDER BY version"),
            {"c": case_id},
        ).all()


def test_a_clerks_journey_moves_the_case_one_version_at_a_time_and_audits_each_step(env):
    engine, flow, people, clock = env
    (case_id,) = ingest(engine, ["MZ-001"], at=MONDAY)  # 老年综合津贴申领, 15 working days, 民政
    clerk = people["clerk_mz"]
    assert _case(engine, case_id)["due_date"] == date(2026, 3, 23)

    flow.act(clerk, case_id, A.ACCEPT, 1)
    flow.act(clerk, case_id, A.REVIEW, 2)
    clock.now = MONDAY + timedelta(days=1)  # Tuesday: the notice goes out
    notice = flow.act(clerk, case_id, A.REQUEST_MATERIALS, 3, "户籍地址与身份证不一致", ["户口簿原件", "居住证明"])
    assert notice.event.status == "more_materials" and notice.event.note.count("\n") >= 3
    assert "1. 户口簿原件" in notice.event.note and "说明：户籍地址与身份证不一致" in notice.event.note
    clock.now = MONDAY + timedelta(days=3)  # Thursday: the materials are in, two working days later
    resumed = flow.act(clerk, case_id, A.RESUME, 4)
    assert resumed.event.due_date == date(2026, 3, 25)  # 23 March moved by the two paused working days
    clock.now = MONDAY + timedelta(days=4)
    done = flow.act(clerk, case_id, A.COMPLETE, 5, "已核准，津贴次月发放")

    assert done.event.version == 6 and done.event.status == "completed"
    row = _case(engine, case_id)
    assert (row["status"], row["version"], row["due_date"]) == ("completed", 6, date(2026, 3, 25))
    assert [e.status for e in _events(engine, case_id)] == [
        "submitted",
        "accepted",
        "under_review",
        "more_materials",
        "under_review",
        "completed",
    ]
    assert {e.actor for e in _events(engine, case_id)[1:]} == {"clerk_mz"}
    with engine.connect() as conn:
        audited = conn.execute(
            text("SELECT actor, action, data FROM audit WHERE subject = :c AND actor LIKE 'user:%' ORDER BY id"),
            {"c": case_id},
        ).all()
        w = table(CaseWorkRow)
        work = conn.execute(select(w).where(w.c.case_id == case_id)).mappings().one()
        assert verify(conn)[1] is None
    assert [a.action for a in audited] == [
        "case.accept",
        "case.review",
        "case.request_materials",
        "case.resume",
        "case.complete",
    ]
    assert {a.actor for a in audited} == {"user:clerk_mz"}
    assert json.loads(audited[2].data)["materials"] == ["户口簿原件", "居住证明"]
    assert (work["assignee"], work["paused_days"], work["notices"], work["outcome"]) == ("clerk_mz", 2, 1, "completed")
    assert work["in_time"] is True and work["processing_s"] == pytest.approx(4 * 86400)


def test_two_clerks_acting_on_the_same_version_one_wins_and_the_other_is_told(env):
    engine, flow, people, _ = env
    (case_id,) = ingest(engine, ["MZ-006"], at=MONDAY)
    colleague = people["clerk_mz"]
    results: list[object] = []

    def take() -> None:
        try:
            results.append(flow.act(colleague, case_id, A.ACCEPT, 1).event.version)
        except CaseConflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r for r in results if isinstance(r, int)) == [2]
    assert sum(isinstance(r, CaseConflict) for r in results) == 3
    assert [e.version for e in _events(engine, case_id)] == [1, 2]
    with pytest.raises(CaseConflict, match="版本 2"):
        flow.act(colleague, case_id, A.REVIEW, 1)  # a stale page


def test_only_the_departments_clerks_and_the_manager_may_act_and_an_auditor_never(env):
    engine, flow, people, _ = env
    (case_id,) = ingest(engine, ["MZ-006"], at=MONDAY)
    for who in ("clerk_rs", "auditor", "operator"):
        with pytest.raises(PermissionDenied):
            flow.act(people[who], case_id, A.ACCEPT, 1)
    assert flow.act(people["manager"], case_id, A.ACCEPT, 1).event.version == 2
    with pytest.raises(NotFound):
        flow.act(people["manager"], "00000000-0000-0000-0000-000000000000", A.ACCEPT, 1)


def test_impossible_moves_and_missing_reasons_are_refused_and_change_nothing(env):
    engine, flow, people, _ = env
    (case_id,) = ingest(engine, ["RS-006"], at=MONDAY)
    clerk = people["clerk_rs"]
    with pytest.raises(InvalidAction, match="已提交"):
        flow.act(clerk, case_id, A.COMPLETE, 1)  # not accepted yet
    with pytest.raises(InvalidAction, match="理由"):
        flow.act(clerk, case_id, A.REFUSE, 1)  # 不予受理 needs a reason the resident can read
    with pytest.raises(InvalidAction, match="不予批准"):
        flow.act(clerk, case_id, A.REJECT, 1, "不符合")  # 不予批准 comes only after acceptance
    flow.act(clerk, case_id, A.ACCEPT, 1)
    with pytest.raises(InvalidAction, match="不予受理"):
        flow.act(clerk, case_id, A.REFUSE, 2, "不符合")  # accepted: too late to refuse acceptance
    with pytest.raises(InvalidAction, match="全部材料"):
        flow.act(clerk, case_id, A.REQUEST_MATERIALS, 2, "缺材料", [])
    flow.act(clerk, case_id, A.REQUEST_MATERIALS, 2, "缺照片", ["近期一寸免冠照片"])
    flow.act(clerk, case_id, A.RESUME, 3)
    with pytest.raises(InvalidAction, match="一次性告知"):
        flow.act(clerk, case_id, A.REQUEST_MATERIALS, 4, "又缺", ["户口簿"])  # one notice lists everything
    rejected = flow.act(clerk, case_id, A.REJECT, 4, "照片不符合制卡要求，请重新申请")
    assert rejected.event.note == "照片不符合制卡要求，请重新申请"
    with pytest.raises(InvalidAction):
        flow.act(clerk, case_id, A.WITHDRAW, 5, "申请人要求")  # closed cases stay closed
    assert [e.version for e in _events(engine, case_id)] == [1, 2, 3, 4, 5]


def test_an_id_number_a_clerk_types_into_a_note_is_masked(env):
    """The note goes to the terminal, rests in the broker's queue for an offline one, and stays in the audit
    chain for good (a personal-data review found a clerk's note naming the resident's address and number)."""
    engine, flow, people, _ = env
    (case_id,) = ingest(engine, ["RS-006"], at=MONDAY)
    clerk = people["clerk_rs"]
    flow.act(clerk, case_id, A.ACCEPT, 1)
    note = "与 310104 19921011 2663 的登记信息不一致"  # typed grouped, as people do
    flow.act(clerk, case_id, A.REJECT, 2, note)
    (*_, (_v, _s, _a, stored)) = _events(engine, case_id)
    assert stored == "与 310104********2663 的登记信息不一致"
    with engine.connect() as conn:
        chain = " ".join(str(v) for row in conn.execute(text("SELECT data FROM audit")) for v in row)
    assert "19921011" not in chain


def test_a_manager_routes_a_case_to_another_department_and_its_clerks_take_over(env):
    engine, flow, people, _ = env
    (case_id,) = ingest(engine, ["RS-006"], at=MONDAY)
    with pytest.raises(PermissionDenied):
        flow.route(people["clerk_rs"], case_id, "MZ", 1)
    moved = flow.route(people["manager"], case_id, "MZ", 1)
    assert (moved.event.status, moved.event.department, moved.event.version) == ("submitted", "MZ", 2)
    assert "民政" in moved.event.note
    with pytest.raises(PermissionDenied):
        flow.act(people["clerk_rs"], case_id, A.ACCEPT, 2)
    assert flow.act(people["clerk_mz"], case_id, A.ACCEPT, 2).event.department == "MZ"
