"""A resident's visit, driven through headless Chromium against the kiosk on real ptys.

张伟 (72, Shanghai household) places his ID card on the simulated reader; the reader driver reads it, the
device service announces the tap, and the welcome page follows its event stream to his services: first
the few he most likely needs, then all of them behind 全部业务. He finds 老年综合津贴 by pinyin initials,
reads an item, applies for 敬老卡挂失 (an immediate item), confirms, and the simulated printer decodes the
receipt: receipt number, query code, masked ID and the progress QR. He rates the service. Nothing on
screen or paper shows his whole ID number.
"""

from __future__ import annotations

import re

import pytest

from edge.devices.sim.identities import identity
from protocol import sealed
from protocol.cases import SealedCase
from protocol.catalogue import load_seed
from protocol.idnumber import mask
from protocol.ratings import Rating, RatingLevel
from tests.support import CASE_KEY

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def test_card_tap_to_printed_receipt_and_rating(start_kiosk, page, shot):
    k = start_kiosk()
    zhang = identity("zhang-wei")
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    shot(page, "welcome")

    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    assert page.locator("h1").inner_text() == "您可以办理的业务"
    assert mask(zhang.id_number) in page.locator(".holder").inner_text()
    likely = page.locator("#likely").inner_text()  # the first screen: what a 72-year-old most likely needs
    assert "老年综合津贴申领" in likely and "敬老卡挂失" not in likely and "就业登记" not in likely
    assert page.content().find(zhang.id_number) == -1
    page.reload()  # the tap's page stands for /services: a reload keeps him there
    assert page.locator("h1").inner_text() == "您可以办理的业务" and page.url.endswith("/services")
    page.click("#all-services")  # everything else, one tap away
    assert "敬老卡挂失" in page.locator("#group-eligible").inner_text()
    assert "就业登记" not in page.locator("main").inner_text()  # he is past the statutory retirement age

    page.fill("#q", "lnjt")
    page.click("button[type=submit] >> text=查找")
    assert page.locator("#results .name").all_inner_texts() == ["老年综合津贴申领"]
    page.click("#results a")
    page.wait_for_selector("#book")  # decided at the centre: plan a visit instead
    assert "15 个工作日" in page.locator(".facts").inner_text()
    shot(page, "item")
    page.click("#book")
    assert page.locator("#visit-date").inner_text()
    page.click("#print-visit")
    page.wait_for_selector("#print-status")
    checklist = k.printer.wait_for_receipt(1)
    assert "办事材料清单" in checklist.lines and any(line.startswith("建议前往日期：") for line in checklist.lines)
    assert any("居民身份证" in line for line in checklist.lines)

    page.goto(f"{k.url}/item/MZ-003")
    page.click("#apply")
    assert mask(zhang.id_number) in page.locator("#card-id_number").inner_text()
    page.fill("#field_phone", "13800138000")
    page.fill("#field_lost_date", "2026-01-05")
    page.check("input[name=field_reissue] >> nth=0")
    shot(page, "apply")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert "13800138000" in page.locator("#confirm-values").inner_text()
    shot(page, "confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    receipt_no = page.locator("#receipt-no").inner_text()
    query_code = page.locator("#query-code").inner_text()
    assert re.fullmatch(r"JW001-\d{8}-\d{4}", receipt_no) and re.fullmatch(r"[0-9A-Z]{6}", query_code)
    assert page.locator("#print-status").inner_text().strip().endswith("已打印，请从出纸口取走。")
    assert page.locator("#qr").get_attribute("src").startswith("data:image/svg+xml")
    # 敬老卡挂失 is accepted here; the centre stops the card that working day: the receipt must not say it is done
    assert page.locator("h1").inner_text().endswith("申请已提交")  # 已受理 is the clerk's step (status terms)
    assert "后台办理" in page.locator("#back-office").inner_text()
    shot(page, "receipt")

    paper = k.printer.wait_for_receipt(2)
    text = paper.text
    assert "业务受理回执" in text and "事项：敬老卡挂失" in text
    assert f"回执号：{receipt_no}" in text and f"查询码：{query_code}" in text
    assert f"证件号码：{mask(zhang.id_number)}" in text and "申请人：张*" in text
    assert "当个工作日办结（需工作人员后台办理）" in text and "当场办结" not in text
    assert zhang.id_number not in text and "张伟" not in text
    assert (
        len(paper.qr_codes) == 1 and f"r={receipt_no}" in paper.qr_codes[0] and f"c={query_code}" in paper.qr_codes[0]
    )

    page.click("#rate")
    shot(page, "rate")
    page.fill("#reason", "很方便")
    page.click("#level-1")  # a slip of the finger: chosen, not sent (one rating per case)
    page.click("#level-4")
    assert page.url.endswith("/rate")
    page.click("#rate-submit")
    page.wait_for_selector("#rated")
    case = k.stored()[0]
    assert case["receipt_no"] == receipt_no
    rating = k.runtime.ratings.rating_of(case["case_id"])
    assert rating["level"] == int(RatingLevel.SATISFIED) and "reason" not in rating  # kept for the hub only:
    (queued,) = k.runtime.outbox.pending("ratings", 0, 10)  # in the outbox item, until the hub's ack, sealed
    queued_rating = Rating.model_validate_json(queued.payload)
    assert queued_rating.reason == "" and "很方便" not in queued.payload
    opener = sealed.Opener(sealed.private_key(CASE_KEY))
    assert opener.open_text(queued_rating.sealed_reason, queued_rating.rating_id) == "很方便"
    # The case names the item it was promised under, so that the hub keeps the receipt's promise whichever
    # version is in force when the case reaches it: here the shipped catalogue's, a hub's version 1.
    submitted = opener.open(SealedCase.model_validate_json(case["payload"]))
    assert submitted.item_hash == load_seed().get("MZ-003").content_hash()

    page.click("#finish")
    page.wait_for_selector("#ended-notice")
    assert "张伟" not in page.content()


def test_english_toggle_translates_the_page_and_finish_restores_chinese(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    page.click("#lang-toggle")
    assert page.locator("h1").inner_text() == "Services you can apply for"
    assert "What you most likely need" in page.locator("#likely").inner_text()
    assert "All services (" in page.locator("#all-services").inner_text()
    page.click("#all-services")
    assert "Staff must check" in page.locator("#group-needs_check").inner_text()
    page.click("#finish")
    page.wait_for_selector("#ended-notice")
    assert page.locator("h1").inner_text() == "欢迎使用社区自助服务"


def test_the_next_card_tapped_mid_session_starts_in_chinese(start_kiosk, page):
    """Only 结束 reset the language: a resident who tapped straight after an English-speaking one got English."""
    k = start_kiosk()
    page.goto(k.url)
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    page.click("#lang-toggle")
    assert page.locator("h1").inner_text() == "Services you can apply for"
    k.tap("zhang-wei")  # another card, without 结束
    page.locator(".holder", has_text="张伟").wait_for()
    assert page.locator("h1").inner_text() == "您可以办理的业务" and page.url.endswith("/services")


def test_browsing_without_a_card_lists_every_service_and_search_by_pinyin(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    page.click("#browse")
    page.wait_for_url(re.compile(r"/services$"))
    assert page.locator("h1").inner_text() == "全部业务"
    assert page.locator(".items a").count() == 50
    page.goto(f"{k.url}/services?q=sbk")
    assert page.locator("#results .name").all_inner_texts()[0].startswith("社会保障卡")
    page.goto(f"{k.url}/item/RS-004")
    assert page.locator("#apply").count() == 0  # no card, no application


def test_scanning_a_receipt_shows_its_progress_to_its_holder_without_personal_data(start_kiosk, page):
    k = start_kiosk()
    k.runtime.cases.set_lookup_key(bytes(32))  # given by the hub on connect (protocol.lookup)
    from edge.store.cases import NewCase
    from protocol.cases import Applicant

    zhang = identity("zhang-wei")
    case = k.runtime.cases.submit(
        NewCase(item_code="RS-004", applicant=Applicant(id_number=zhang.id_number, name=zhang.name))
    )
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    k.scanner.scan(f"https://shegong.example/progress?r={case.receipt_no}&c={case.query_code}")
    page.wait_for_selector("#id-hint")  # no card: the receipt alone shows nothing, the ID number is asked for
    assert page.locator("#receipt_no").input_value() == case.receipt_no
    page.fill("#id_number", zhang.id_number)
    page.click("button[type=submit] >> text=查询")
    page.wait_for_selector("#progress")
    body = page.locator("main").inner_text()
    assert "社会保障卡挂失" in body and "已提交" in body and "截至" in body
    assert zhang.name not in body and zhang.id_number[-4:] not in body

    k.tap("zhang-wei")  # with the card on the reader, a scan shows the progress at once
    page.wait_for_url(re.compile(r"/services$"))
    k.scanner.scan(f"https://shegong.example/progress?r={case.receipt_no}&c={case.query_code}")
    page.wait_for_selector("#progress")
    k.scanner.scan(f"https://shegong.example/progress?r={case.receipt_no}&c=ZZZZZZ")
    page.wait_for_selector("#progress-missing")


def test_an_immediate_item_with_a_back_office_step_says_so_on_screen_and_on_paper(start_kiosk, page):
    """婚姻登记档案查询 is accepted here but the archive is searched by staff that day: the receipt must not
    say 当场办结 (issue 11, item 2)."""
    k = start_kiosk()
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/DA-001")
    assert "当个工作日办结（需工作人员后台办理）" in page.locator(".facts").inner_text()
    page.click("#apply")
    page.fill("#field_phone", "13800138000")
    page.check("input[name=field_purpose][value=办理继承]")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    assert page.locator("h1").inner_text().endswith("申请已提交")  # 已受理 is the clerk's step (status terms)
    assert "后台办理" in page.locator("#back-office").inner_text()
    assert "当个工作日办结（需工作人员后台办理）" in page.locator("#due").inner_text()
    paper = k.printer.wait_for_receipt(1)
    assert any(line.endswith("当个工作日办结（需工作人员后台办理）") for line in paper.lines)
    assert "当场办结" not in paper.text
