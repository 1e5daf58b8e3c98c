"""Issue 11 in headless Chromium, as the centre's people meet it, with cases and ratings from a real
terminal over the real broker:

- a resident's 社保卡挂失 (done on the spot) is 已办结 at the hub at once, in the terminal's history too,
  and no clerk's queue holds it;
- the manager sees a case past its statutory time limit under its own warning on 超期督办;
- a resident's 非常不满意 opens a return call the 民政 clerk finds under 回访整改, records, and the
  report counts;
- an operator edits an item's fee and Chinese description in the catalogue editor, is told the English
  is now older than the Chinese, and publishing asks to confirm before the fee goes out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge.store.cases import NewCase
from protocol.envelope import utcnow
from protocol.localtime import local_date
from protocol.ratings import RatingLevel
from tests.support import applicant, hub_count, keep_screenshot, wait_for
from tests.unit.hub.helpers import PASSWORDS, ingest


def _sign_in(page, web: str, who: str, then: str) -> None:
    page.goto(f"{web}/login")
    page.fill("#username", who)
    page.fill("#password", PASSWORDS[who])
    page.click("button:has-text('登录')")
    page.wait_for_load_state()
    page.goto(web + then)


def _terminal_has(edge, case_id: str, status: str, version: int) -> bool:
    row = edge.cases.get(case_id)
    return bool(row) and (row["status"], row["version"]) == (status, version)


@pytest.mark.browser
def test_an_item_done_on_the_spot_is_completed_at_the_hub_and_at_the_terminal(hub, people, web, page, edge_factory):
    edge = edge_factory("T1")
    spot = NewCase(item_code="MZ-004", applicant=applicant(3), done_on_spot=True)  # 助餐登记, as the kiosk says
    done = str(edge.cases.submit(spot).case_id)
    waits = str(edge.cases.submit(NewCase(item_code="MZ-003", applicant=applicant(4))).case_id)  # 敬老卡挂失
    assert _terminal_has(edge, done, "completed", 0), "finished on the spot before the hub heard of it"
    edge.start_sync()
    wait_for(lambda: _terminal_has(edge, done, "completed", 2), what="当场办结 at the terminal")
    wait_for(lambda: _terminal_has(edge, waits, "submitted", 1), what="the back-office item at the terminal")

    _sign_in(page, web, "clerk_mz", "/queue")
    assert page.locator("tbody tr", has_text="敬老卡挂失").count() == 1  # a clerk stops the card
    assert page.locator("tbody tr", has_text="社区老年助餐服务登记").count() == 0  # nothing left for a clerk
    page.goto(f"{web}/cases/{done}")
    assert page.locator("#case-status").inner_text().startswith("已办结")
    assert page.locator("text=即办件，已当场办结").count() == 1
    assert page.locator("form[data-action]").count() == 0


@pytest.mark.browser
def test_the_manager_sees_a_case_past_its_statutory_limit_under_its_own_warning(hub, people, web, page):
    received = utcnow() - timedelta(days=40)  # 居住证签注: 3 working days promised, 15 by law: both long past
    (case_id,) = ingest(hub.engine, ["GA-003"], at=received, start=20)
    _sign_in(page, web, "manager", "/overdue")
    law = page.locator("h2#statutory-red + table")
    assert page.locator("h2#statutory-red").inner_text().startswith("已超过法定办结时限（1 件）")
    assert law.locator(f"a[href='/cases/{case_id}']").count() == 1
    assert "超过法定时限" in law.inner_text()
    page.goto(f"{web}/cases/{case_id}")
    assert "超过法定时限" in page.locator("#statutory-due").inner_text()


@pytest.mark.browser
def test_a_bad_rating_becomes_a_return_call_the_clerk_records_and_the_report_counts(
    hub, people, web, page, edge_factory, hub_db_url
):
    edge = edge_factory("T1")
    edge.start_sync()
    case_id = str(edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(8))).case_id)
    edge.ratings.rate(RatingLevel.VERY_DISSATISFIED, "窗口让我跑了两趟", case_id=case_id)
    wait_for(
        lambda: hub_count(hub.engine, "SELECT count(*) FROM return_calls") == 1,
        what="the return call at the hub",
    )

    _sign_in(page, web, "clerk_mz", "/queue")
    page.click("nav a:has-text('回访整改')")
    row = page.locator("tr", has_text="窗口让我跑了两趟")
    assert "非常不满意" in row.inner_text() and "老年综合津贴申领" in row.inner_text()
    if hub_db_url.startswith("sqlite"):
        keep_screenshot(page, "hub-return-calls", "hub")
    row.locator("textarea[name=outcome]").fill("已致电道歉，说明材料清单，窗口增加一次性告知提示")
    row.locator("button:has-text('记录回访')").click()
    page.wait_for_selector("text=已记录回访整改情况")
    assert "已联系到申请人：已致电道歉" in page.locator("tr", has_text="窗口让我跑了两趟").inner_text()
    # the receipt number leads to the case, where the clerk finds how to reach the resident
    page.locator("tr", has_text="窗口让我跑了两趟").locator("a").first.click()
    page.wait_for_url(f"{web}/cases/{case_id}")

    page.click("button:has-text('退出')")
    today = local_date(utcnow())
    _sign_in(page, web, "manager", f"/reports?start={today - timedelta(days=1)}&end={today}")
    assert page.locator("#return-calls strong").inner_text() == "1"
    assert "/ 1 · 0" in page.locator("#return-calls").inner_text()


@pytest.mark.browser
def test_the_catalogue_editor_flags_stale_english_and_publishing_asks_first(hub, people, web, page, hub_db_url):
    _sign_in(page, web, "operator", "/fleet/catalogue/items/GA-003")
    page.fill("#fee", "5.00")
    page.fill("textarea[name=description]", "居住证有效期满前三十日内办理签注，逾期需重新申领。")
    page.fill("input[name='materials-0-note_en']", "")  # nothing else touched
    page.click("button:has-text('保存到草稿')")
    page.wait_for_selector("text=已保存 GA-003")
    assert page.locator("#fee").input_value() == "5.00"
    assert page.locator(".stale[data-field=description_en]").count() == 1  # its English is older now
    assert page.locator(".stale[data-field=name_en]").count() == 0
    if hub_db_url.startswith("sqlite"):
        keep_screenshot(page, "hub-catalogue-item", "hub", full_page=True)

    page.goto(f"{web}/fleet/catalogue/")
    page.click("button:has-text('发布草稿')")
    page.wait_for_selector("text=请确认发布")
    assert "GA-003" in page.locator("#publish-stale").inner_text()
    assert "修改 GA-003" in page.locator("#publish-changes").inner_text()
    assert hub.catalogue.in_force.current().item("GA-003").fee_fen == 0  # not yet
    page.click("#confirm-publish")
    page.wait_for_selector("text=已发布并通知各终端")
    assert hub.catalogue.in_force.current().item("GA-003").fee_fen == 500
