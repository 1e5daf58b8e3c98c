"""What the resident sees when something is wrong, and that typed input can never become markup.

Disk full: the store refuses the case (StorageFull) and the page says so plainly, nothing stored.
Printer out of paper: the case is accepted, the receipt is shown on screen, and it can be reprinted once
paper is loaded. Offline: my cases show the last known state with its "as of" time. A form value holding
``<script>`` is shown as text on the confirm page and in the stored case, never run. Staff log in with a
PIN, tick the materials received and submit on the resident's behalf.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

import pytest

from edge.devices.sim.identities import identity
from protocol.cases import CaseEvent, CaseStatus
from tests.support import STAFF_ID, STAFF_PIN, unseal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def _to_form(page, k, who: str, code: str) -> None:
    page.goto(k.url)
    k.tap(who)
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/{code}/apply")


def _fill_mz003(page) -> None:
    page.fill("#field_phone", "13900139000")
    page.fill("#field_lost_date", "2026-02-03")
    page.check("input[name=field_reissue] >> nth=0")
    page.click("#to-confirm")
    page.click("#submit")


def test_disk_full_refuses_the_application_with_a_clear_message(start_kiosk, page, shot):
    k = start_kiosk(min_free_disk_mb=10**9)
    _to_form(page, k, "zhang-wei", "MZ-003")
    _fill_mz003(page)
    message = page.locator("#message").inner_text()
    assert "存储空间已满" in message and "您的信息没有保存" in message
    shot(page, "disk-full")
    assert k.stored() == []
    assert "storage_full" in k.runtime.alarms.active()
    assert k.printer.receipts == []


def test_printer_out_of_paper_shows_the_receipt_on_screen_and_reprints_later(start_kiosk, page, shot):
    k = start_kiosk()
    k.printer.set_paper_out()
    _to_form(page, k, "chen-jianguo", "MZ-003")
    _fill_mz003(page)
    page.wait_for_url(re.compile(r"/receipt/"))
    assert "打印机缺纸" in page.locator("#print-status").inner_text()
    receipt_no = page.locator("#receipt-no").inner_text()
    assert receipt_no and page.locator("#query-code").inner_text()
    shot(page, "paper-out")
    assert k.printer.receipts == []

    k.printer.set_paper_out(False)
    page.click("#reprint")
    page.wait_for_selector("#print-status.ok")
    assert f"回执号：{receipt_no}" in k.printer.wait_for_receipt(1).text


def test_offline_my_cases_show_the_last_known_state_and_its_as_of_time(start_kiosk, page, shot):
    k = start_kiosk()
    k.runtime.cases.set_lookup_key(bytes(32))  # given by the hub while the link was up (protocol.lookup)
    zhang = identity("zhang-wei")
    from edge.store.cases import NewCase
    from protocol.cases import Applicant

    holder = Applicant(id_number=zhang.id_number, name=zhang.name)
    case = k.runtime.cases.submit(NewCase(item_code="RS-004", applicant=holder, due_date=date(2026, 3, 2)))
    at = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    paused = date(2026, 3, 9)  # the centre's date, moved by a 补正 pause
    k.runtime.cases.apply_events(
        [
            CaseEvent(
                event_id=1,
                case_id=uuid.UUID(str(case.case_id)),
                version=1,
                status=CaseStatus.MORE_MATERIALS,
                at=at,
                due_date=paused,
            )
        ]
    )
    page.goto(k.url)
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    page.click("#my-cases")
    assert "网络暂时中断" in page.locator("#offline-note").inner_text()
    card = page.locator("#cases .case").first
    text = card.inner_text()
    assert "社会保障卡挂失" in text and "待补正" in text and "截至 2026-03-02 09:30" in text
    assert case.receipt_no in text and "等待上传至中心" in text
    assert "承诺办结日期：2026-03-09" in text and "补正期间暂停计时" in text
    shot(page, "cases-offline")


def test_html_typed_into_a_form_is_shown_as_text_and_never_runs(start_kiosk, page):
    k = start_kiosk()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _to_form(page, k, "zhang-wei", "MZ-004")
    evil = '<script>alert("x")</script><img src=x onerror="alert(1)">'
    page.fill("#field_phone", "13800138000")
    page.check("input[name=field_meal] >> nth=0")
    page.check("input[name=field_delivery] >> nth=0")
    page.fill("#field_diet", evil[:100])
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert evil[:100] in page.locator("#confirm-values").inner_text()
    assert page.locator("#confirm-values script, #confirm-values img").count() == 0
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    assert dialogs == []
    stored = k.stored()[0]
    assert any(evil[:100] in v for v in unseal(stored["payload"]).form.values())  # kept as typed, shown as text
    # 助餐登记 is finished on the spot: 我的办件 says so as the receipt did, before the centre has heard of it
    # (it said 已提交 for as long as the terminal was offline: a review of what each channel tells).
    assert stored["status"] == "completed" and stored["version"] == 0
    page.goto(f"{k.url}/cases")
    mine = page.locator("#cases .case").first.inner_text()
    assert "社区老年助餐服务登记" in mine and "已办结" in mine and "等待上传至中心" in mine


def test_a_form_post_without_the_csrf_token_is_refused(start_kiosk, page):
    k = start_kiosk()
    _to_form(page, k, "zhang-wei", "MZ-003")
    response = page.request.post(
        f"{k.url}/item/MZ-003/apply", form={"field_phone": "13800138000"}, headers={"x-csrftoken": "forged"}
    )
    assert response.status == 403


def test_staff_log_in_tick_materials_and_submit_on_the_residents_behalf(start_kiosk, page, shot):
    k = start_kiosk()
    page.goto(k.url)
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/RS-002")  # 失业登记: is she out of work? The card cannot tell
    assert page.locator("#needs-staff").count() == 1 and page.locator("#apply").count() == 0

    page.goto(f"{k.url}/staff?next=/item/RS-002")
    page.fill("#staff_id", STAFF_ID)
    page.fill("#pin", "000000")
    page.click("#staff-submit")
    assert "工号或密码不对" in page.locator("#staff-error").inner_text()
    page.fill("#staff_id", STAFF_ID)
    page.fill("#pin", STAFF_PIN)
    page.click("#staff-submit")
    page.wait_for_url(re.compile(r"/item/RS-002$"))
    assert f"工作人员模式：{STAFF_ID}" in page.locator(".staffbar").inner_text()
    page.click("#apply")
    page.fill("#field_phone", "13700137000")
    page.fill("#field_last_job_end", "2026-02-27")
    page.check("input[name=materials] >> nth=0")
    shot(page, "staff-apply")
    page.click("#to-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    assert f"代办人：{STAFF_ID}" in k.printer.wait_for_receipt(1).text
    stored = k.stored()[0]
    case = unseal(stored["payload"])
    assert case.applicant.id_number == identity("li-na").id_number
    assert case.agent == STAFF_ID and case.materials


def test_call_staff_from_any_screen_raises_an_alarm_and_says_where_help_is(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    k.tap("zhou-guilan")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/MZ-003")
    page.click("#call-staff")
    page.wait_for_selector("#help-notice")
    assert page.url.startswith(f"{k.url}/item/MZ-003")
    # This kiosk has no link to the centre: the call cannot reach anyone yet, and the page does not say it has.
    notice = page.locator("#help-notice").inner_text()
    assert "请直接到居委会服务台找工作人员" in notice and "马上就来" not in notice
    assert "help_requested" in k.runtime.alarms.active()
