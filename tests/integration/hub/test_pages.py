"""The back-office pages a browser test does not walk through: the audit trail and its verification,
the holiday calendar kept through its form (an edit moves the due dates of open cases), the report and
its CSV, the overdue board — and the Chinese 403 page a clerk gets for the auditor's page, whatever the
navigation shows."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

from sqlalchemy import select, text

from hub.db.models import AuditEntry, CaseRow, table
from tests.unit.hub.helpers import PASSWORDS, ingest


def _csrf(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, username: str) -> None:
    token = _csrf(client.get("/login").text)
    form = {"username": username, "password": PASSWORDS[username], "next": "/", "_csrf_token": token}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303


def test_the_manager_verifies_the_audit_trail_and_keeps_the_calendar(hub, client, people):
    ingest(hub.engine, ["MZ-001"], at=datetime(2026, 3, 2, 23, 30, tzinfo=UTC))  # 07:30 on 3 March in Shanghai
    _sign_in(client, "manager")
    audit = client.get("/audit?check=true")
    assert "审计链完整" in audit.text and "cases.received" in audit.text and "auth.login" in audit.text
    assert "收到终端申请" in audit.text and "登录" in audit.text  # what each action is, beside its code
    assert "王主任<br><small>user:manager</small>" in audit.text  # who, by name and by sign-in name
    assert "2026-03-03 07:30" in audit.text and "2026-03-02 23:30" not in audit.text  # Shanghai time, as elsewhere

    page = client.get("/calendar?year=2026")
    assert "国庆节" in page.text and "调休上班" in page.text
    ahead = date.today().year + 1  # a day to come: days gone by are not edited
    eve = date(ahead, 12, 31)
    form = {"day": eve.isoformat(), "kind": "off", "name": "跨年", "_csrf_token": _csrf(page.text)}
    saved = client.post("/calendar/days", data=form, follow_redirects=True)
    assert f"已保存 {eve}" in saved.text
    page = client.get(f"/calendar?year={ahead}")
    assert "王主任" in page.text  # who entered the day, by the name colleagues know
    wednesday = next(date(ahead, 12, d) for d in range(24, 31) if date(ahead, 12, d).weekday() == 2)
    weekday = {"day": wednesday.isoformat(), "kind": "work", "name": "x", "_csrf_token": _csrf(page.text)}
    refused = client.post("/calendar/days", data=weekday, follow_redirects=True)
    assert "只有周末才能设为调休上班" in refused.text
    past = {"day": "2026-03-04", "kind": "off", "name": "补录", "_csrf_token": _csrf(page.text)}
    assert "已经过去" in client.post("/calendar/days", data=past, follow_redirects=True).text
    removed = client.post(f"/calendar/{eve}/delete", data={"_csrf_token": _csrf(page.text)})
    assert removed.status_code == 200 and "已恢复为普通日" in removed.text


def test_reports_and_the_overdue_board_render_and_export(hub, client, people):
    ingest(hub.engine, ["MZ-001", "GA-003", "XX-001"])
    _sign_in(client, "auditor")
    report = client.get("/reports")
    assert report.status_code == 200 and report.text.count("<svg") == 4 and "各部门" in report.text
    assert "<span>收件</span><strong>3</strong>" in report.text, "received, not 受理: none is accepted yet"
    assert "无差评" in report.text
    assert "老年综合津贴申领" in client.get("/reports?department=MZ").text
    exported = client.get("/reports.csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8" and exported.text.startswith("\ufeff层级")
    board = client.get("/overdue")
    assert "中心综合窗口" in board.text and "红牌：已超过承诺时限" in board.text
    assert "<h2>办理</h2>" not in client.get(f"/cases/{ingest(hub.engine, ['RS-006'], start=5)[0]}").text  # no actions


def test_a_clerk_finds_a_case_by_its_receipt_number_whatever_its_status(hub, client, people):
    """The queue held open cases only and had no search: a clerk could not find the case a resident called
    about, or a decided one to call back after a bad rating."""
    done, other = ingest(hub.engine, ["MZ-004", "MZ-001"])  # 助餐登记 arrives completed (done on the spot)
    with hub.engine.connect() as conn:
        receipt = conn.execute(text("SELECT receipt_no FROM cases WHERE case_id = :c"), {"c": done}).scalar_one()
    _sign_in(client, "clerk_mz")
    assert done not in client.get("/queue").text and other in client.get("/queue").text
    found = client.get("/queue", params={"receipt": receipt.replace("-", " ").lower()})  # as typed from a phone call
    assert found.status_code == 200 and f"/cases/{done}" in found.text and other not in found.text
    assert "已办结" in found.text and "共 1 件" in found.text
    closed = client.get("/queue", params={"status": "completed"}).text
    assert f"/cases/{done}" in closed and other not in closed and '<option value="completed" selected>' in closed
    _sign_in(client, "clerk_rs")
    assert done not in client.get("/queue", params={"receipt": receipt}).text  # another department's: not found


def test_a_clerk_finds_a_case_by_the_end_of_its_receipt_number_an_id_number_or_a_name(hub, client, people):
    """The review: 「0007」 gave 共 0 件, and a resident at the window or on the phone could not be found by
    ID number or name. Expected values from the ingested rows: applicant n is 测试n with ID number
    310101-19550312-(n:03d)-check."""
    cases = ingest(hub.engine, ["MZ-001", "MZ-001", "MZ-006"], start=40)  # 测试40, 测试41, 测试42
    with hub.engine.connect() as conn:
        rows = {
            c: tuple(r)
            for c, *r in conn.execute(text("SELECT case_id, receipt_no, id_number, applicant_name FROM cases"))
        }
    _sign_in(client, "clerk_mz")

    def found(typed: str) -> set[str]:
        page = client.get("/queue", params={"receipt": typed}).text
        return {c for c in cases if f"/cases/{c}" in page}

    receipt, id_no, name = rows[cases[1]]
    assert found(receipt[-4:]) == {cases[1]}, receipt  # the last digits on the slip
    assert found(f"{id_no[:6]} {id_no[6:14]} {id_no[14:].lower()}") == {cases[1]}  # as read out, spaced
    assert found(name) == {cases[1]} and found("测试4") == set(cases)  # a name, whole or its beginning
    assert found("测%") == set() and found("_") == set(), "LIKE's wildcards are taken as typed"
    _sign_in(client, "clerk_rs")
    assert found(id_no) == set(), "another department's case: not found"


def test_a_clerk_gets_a_403_page_for_the_audit_trail_and_a_sign_in_page_when_signed_out(hub, client, people):
    assert client.get("/overdue", follow_redirects=False).headers["location"] == "/login?next=%2Foverdue"
    _sign_in(client, "clerk_mz")
    denied = client.get("/audit")
    assert denied.status_code == 403 and "无权访问" in denied.text
    assert client.get("/reports").status_code == 403
    assert client.get("/cases/no-such-case").status_code == 404
    logout = client.post("/logout", data={"_csrf_token": _csrf(client.get("/queue").text)}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.get("/queue", follow_redirects=False).status_code == 302


def _due(engine, case_id: str) -> date | None:
    t = table(CaseRow)
    with engine.connect() as conn:
        return conn.execute(select(t.c.due_date).where(t.c.case_id == case_id)).scalar_one()


def test_a_calendar_edit_on_the_calendar_page_moves_the_due_dates_of_open_cases(hub, client, people):
    wednesday = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    open_case, closed_case = ingest(hub.engine, ["GA-003", "GA-003"], at=wednesday)  # Thu 31, Fri 1, Mon 4
    with hub.engine.begin() as conn:
        conn.execute(text("UPDATE cases SET status = 'completed' WHERE case_id = :c"), {"c": closed_case})
    _sign_in(client, "manager")
    page = client.get("/calendar?year=2027")
    form = {"day": "2027-01-01", "kind": "off", "name": "元旦", "_csrf_token": _csrf(page.text)}
    saved = client.post("/calendar/days", data=form, follow_redirects=True)
    assert "已保存 2027-01-01；1 件在办案件的承诺办结日期已按新安排重新计算" in saved.text
    assert _due(hub.engine, open_case) == date(2027, 1, 5)  # Thu 31, Mon 4, Tue 5
    assert _due(hub.engine, closed_case) == date(2027, 1, 4)
    t = table(AuditEntry)
    with hub.engine.connect() as conn:
        actors = conn.execute(select(t.c.actor).where(t.c.action == "cases.due_recounted")).scalars().all()
    assert actors == ["user:manager"]


def test_the_pages_ask_for_a_years_holiday_arrangement_until_it_is_entered(hub, client, people):
    """The database holds the shipped 2026 arrangement. A case due in a year with none counts only weekends
    off there: the calendar, supervision and fleet pages ask for that year's arrangement, still once a day
    of it is entered (which counts the case again), and stop once the operator says the year is entered in
    full (a year-end review: one holiday used to end the notice and every tentative mark). MZ-005 promises
    20 working days: from 30 December 2026, it falls due late in January 2027."""
    (case,) = ingest(hub.engine, ["MZ-005"], at=datetime(2026, 12, 30, 2, tzinfo=UTC))
    due = table(CaseRow).c.due_date
    with hub.engine.connect() as conn:
        assert conn.execute(select(due).where(table(CaseRow).c.case_id == case)).scalar_one().year == 2027
    _sign_in(client, "operator")
    for path in ("/calendar", "/fleet/"):
        notice = re.search(r'id="calendar-gap-2027">(.*?)</div>', client.get(path).text, re.S)
        assert notice and "2027 年的节假日安排尚未确认全部录入" in notice.group(1) and "1 件" in notice.group(1), path
    _sign_in(client, "auditor")
    assert 'id="calendar-gap-2027"' in client.get("/overdue").text
    _sign_in(client, "manager")  # the case's date says it may move, as the resident's receipt did
    assert "暂定：2027 年节假日安排尚未确认全部录入" in client.get(f"/cases/{case}").text
    assert "（暂定）" in client.get("/queue").text

    _sign_in(client, "operator")
    page = client.get("/calendar?year=2027")
    form = {"day": "2027-01-01", "last": "2027-01-03", "kind": "off", "name": "元旦", "_csrf_token": _csrf(page.text)}
    saved = client.post("/calendar/days", data=form, follow_redirects=True)
    assert "已保存 2027-01-01 至 2027-01-03" in saved.text and "1 件在办案件" in saved.text, saved.text[-600:]
    assert all(f"2027-01-0{d}" in saved.text for d in (1, 2, 3))  # the year's page lists each day
    assert "尚未确认全部录入" in saved.text and 'id="calendar-gap-2027"' in client.get("/fleet/").text
    done = client.post("/calendar/2027/complete", data={"_csrf_token": _csrf(saved.text)}, follow_redirects=True)
    assert "2027 年的节假日安排已确认全部录入" in done.text and 'id="complete-year"' not in done.text
    assert "本年安排：已确认全部录入" in done.text
    for path in ("/calendar", "/fleet/"):
        assert 'id="calendar-gap-2027"' not in client.get(path).text, path
    _sign_in(client, "manager")
    assert "暂定" not in client.get(f"/cases/{case}").text and "（暂定）" not in client.get("/queue").text


def test_a_queue_page_past_the_last_shows_the_last(hub, client, people):
    """A clerk on page 2 reloads after the cases there were taken: the queue shows its last page, not an
    empty table headed 第 2 / 1 页."""
    (case,) = ingest(hub.engine, ["MZ-001"])
    _sign_in(client, "clerk_mz")
    page = client.get("/queue", params={"page": 2})
    assert page.status_code == 200 and f"/cases/{case}" in page.text and "第 2 / 1 页" not in page.text


def test_the_clerk_who_took_a_case_is_shown_by_name(hub, client, people):
    """The queue, the case and the overdue board said ``clerk_mz``; colleagues know her as 李经办."""
    (case,) = ingest(hub.engine, ["MZ-001"], at=datetime(2026, 1, 5, 2, 0, tzinfo=UTC))  # overdue by now
    _sign_in(client, "clerk_mz")
    shown = client.get(f"/cases/{case}").text
    version = re.search(r'name="expected_version" value="(\d+)"', shown).group(1)
    form = {"action": "accept", "expected_version": version, "_csrf_token": _csrf(shown)}
    assert "已受理" in client.post(f"/cases/{case}/act", data=form, follow_redirects=True).text
    _sign_in(client, "manager")
    for path in ("/queue", f"/cases/{case}", "/overdue"):
        body = client.get(path).text
        assert "李经办" in body and "clerk_mz" not in body, path


def test_the_fleet_page_says_when_it_is_the_hub_that_lost_the_broker(hub, client, people, broker):
    """The hub cut off from its broker: every terminal turned 静默 with nothing saying the centre was the one
    disconnected, and an operator would have sent technicians to every committee."""
    _sign_in(client, "operator")
    assert 'id="hub-unlinked"' not in client.get("/fleet/").text
    broker.stop()
    deadline = time.monotonic() + 20
    while hub.worker.connected.is_set():
        assert time.monotonic() < deadline, "the hub did not notice"
        time.sleep(0.1)
    page = client.get("/fleet/").text
    assert 'id="hub-unlinked"' in page and "本中心与消息服务器" in page


def _rate(hub, levels: list[tuple[str, int]]) -> None:
    import uuid

    from protocol import topics
    from protocol.envelope import utcnow
    from protocol.ratings import Rating, RatingBatch, RatingBatchBody, RatingLevel
    from tests.support import register_terminal
    from tests.unit.hub.helpers import handler

    register_terminal(hub.engine, "T1")
    now = utcnow()
    ratings = [
        Rating(rating_id=uuid.uuid4(), item_code=code, committee="JW001", level=RatingLevel(n), rated_at=now)
        for code, n in levels
    ]
    batch = RatingBatch(terminal="T1", seq=7, sent_at=now, body=RatingBatchBody(ratings=ratings))
    handler(hub.engine).handle(topics.up("T1", topics.Up.RATINGS), batch.encode(), now)


def test_the_worst_rated_items_name_their_department_and_say_why_a_bad_rating_is_not_ranked(hub, client, people):
    """The review: 差评最多的事项 said 无差评 while 人社 had one bad rating of two (items rank from three
    ratings), and its 部门 column printed MZ."""
    _sign_in(client, "auditor")
    _rate(hub, [("RS-004", 1), ("RS-004", 5)])
    shown = client.get("/reports").text.split("差评最多的事项", 1)[1].split("</table>", 1)[0]
    assert "无差评" not in shown and "评价都不满 3 条" in shown
    _rate(hub, [("MZ-001", 1), ("MZ-001", 2), ("MZ-001", 4)])
    shown = client.get("/reports").text.split("差评最多的事项", 1)[1].split("</table>", 1)[0]
    assert "<td>民政</td>" in shown and "<td>MZ</td>" not in shown, shown


def test_a_case_shows_when_the_resident_submitted_it_and_when_it_reached_the_centre(hub, client, people):
    """The review: a case submitted at 13:50 during a broker outage showed 提交时间 13:51, its arrival; after a
    days-long outage 提交时间 would fall after 承诺办结. Friday 10:00 at the committee, Monday 09:00 at the hub
    (Shanghai time), the terminal's clock right: the receipt's time is shown, and the arrival beside it."""
    friday, monday = datetime(2026, 3, 6, 2, 0, tzinfo=UTC), datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    (case,) = ingest(hub.engine, ["MZ-001"], at=monday, created=friday, sent=monday)
    _sign_in(client, "manager")
    page = client.get(f"/cases/{case}").text
    shown = page.split('id="submitted-at">', 1)[1].split("</dd>", 1)[0]
    assert shown.startswith("2026-03-06 10:00") and "2026-03-09 09:00 才到达中心" in shown, shown
    queue = client.get("/queue").text
    assert "2026-03-06 10:00" in queue and "2026-03-09 09:00" not in queue


def test_the_supervisor_finds_every_withdrawal_and_one_cases_history_on_the_audit_page(hub, client, people):
    """The review: the audit page's 内容 was raw JSON with English codes, its 对象 a case UUID, and only a
    typed 操作人 filtered it: "every withdrawal" or "one case's history" could not be found."""
    withdrawn, other = ingest(hub.engine, ["MZ-001", "MZ-001"])
    with hub.engine.connect() as conn:
        receipts = dict(conn.execute(text("SELECT case_id, receipt_no FROM cases")).all())
    _sign_in(client, "clerk_mz")
    shown = client.get(f"/cases/{withdrawn}").text
    version = re.search(r'name="expected_version" value="(\d+)"', shown).group(1)
    form = {"action": "withdraw", "expected_version": version, "reason": "申请人来电撤回", "_csrf_token": _csrf(shown)}
    assert "已撤回" in client.post(f"/cases/{withdrawn}/act", data=form, follow_redirects=True).text
    shown = client.get(f"/cases/{other}").text
    version = re.search(r'name="expected_version" value="(\d+)"', shown).group(1)
    form = {"action": "accept", "expected_version": version, "_csrf_token": _csrf(shown)}
    assert "已受理" in client.post(f"/cases/{other}/act", data=form, follow_redirects=True).text

    _sign_in(client, "auditor")
    rows = client.get("/audit", params={"action": "case.withdraw"}).text.split("<tbody>", 1)[1]
    assert rows.count("<tr>") == 1 and f'<a href="/cases/{withdrawn}">{receipts[withdrawn]}</a>' in rows
    assert "原状态：已提交" in rows and "新状态：已撤回" in rows and "部门：民政" in rows, rows
    history = client.get("/audit", params={"case": receipts[withdrawn].lower()}).text.split("<tbody>", 1)[1]
    assert "case.withdraw" in history and "cases.received" in history  # its batch's arrival names it too
    assert "case.accept" not in history, "the other case's acceptance is not in this one's history"


def test_a_clerk_sends_a_misrouted_case_back_to_the_centres_window_where_it_is_routed_again(hub, client, people):
    """The review: a clerk holding a case routed to the wrong department could only refuse it (the resident
    then reads 不予受理) or misuse 撤回; only the manager routed, and 改派至 left out the centre's window."""
    from hub.people.roles import Principal, Role

    (case,) = ingest(hub.engine, ["MZ-001"])
    _sign_in(client, "clerk_mz")
    shown = client.get(f"/cases/{case}").text
    choices = re.findall(r'<option value="(\w+)">', shown.split('id="route-dept"', 1)[1].split("</select>", 1)[0])
    assert choices == ["centre"], "a clerk may only send it back"
    version = re.search(r'name="expected_version" value="(\d+)"', shown).group(1)
    refused = {"department": "RS", "expected_version": version, "_csrf_token": _csrf(shown)}
    client.post(f"/cases/{case}/route", data=refused, follow_redirects=True)
    with hub.engine.connect() as conn:
        held = conn.execute(text("SELECT department FROM cases WHERE case_id = :c"), {"c": case}).scalar_one()
    assert held == "MZ", "not to another department"
    back = {"department": "centre", "expected_version": version, "_csrf_token": _csrf(shown)}
    client.post(f"/cases/{case}/route", data=back, follow_redirects=True)
    with hub.engine.connect() as conn:
        held = conn.execute(text("SELECT department FROM cases WHERE case_id = :c"), {"c": case}).scalar_one()
    assert held == "centre"
    _sign_in(client, "manager")
    shown = client.get(f"/cases/{case}").text
    choices = re.findall(r'<option value="(\w+)">', shown.split('id="route-dept"', 1)[1].split("</select>", 1)[0])
    assert "RS" in choices and "centre" not in choices  # it is there now; the manager sends it on

    from hub.cases.routing import may_route

    window = Principal(user_id=9, username="w", display_name="窗口", role=Role.CLERK, departments=frozenset({"centre"}))
    assert may_route(window, "centre", "RS") and not may_route(window, "MZ", "RS")
