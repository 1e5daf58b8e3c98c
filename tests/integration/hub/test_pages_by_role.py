"""The hub as each kind of user meets it, in headless Chromium (issue 11, items 9, 10, 14 and 16).

- Every role has one navigation, the same on every page it may open — the operators' /fleet pages too —
  with the user's name and 退出 on each; an operator lands on the fleet dashboard.
- A clerk sees committees by name (the queue, the case) and the case's history says the submission came
  from that committee's kiosk, made by the social worker for 代办; the case's actions open one at a
  time, each under its heading with what the resident will see (不予批准 and 申请人撤回 differ).
- An operator reads a terminal's clock offset: zero has no direction, others say which way.

The expected words are the issue's and the pages' message file's (hub/messages/pages.zh.json).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from edge.store.cases import NewCase
from hub.db.models import TerminalRow, table
from hub.ingest import committees
from tests.support import applicant, keep_screenshot, wait_for
from tests.unit.hub.helpers import PASSWORDS, ingest

pytestmark = pytest.mark.browser
COMMITTEE = "南京东路第一居委会"
_terms = table(TerminalRow)

NAV = {
    "operator": ["居民呼叫", "终端总览", "终端告警", "服务目录", "节假日"],
    "manager": [
        "待办队列",
        "超期督办",
        "回访整改",
        "居民呼叫",
        "绩效评估",
        "电子监察",
        "终端总览",
        "终端告警",
        "服务目录",
        "节假日",
    ],
    "clerk_mz": ["待办队列", "超期督办", "回访整改", "居民呼叫", "节假日"],
    "auditor": [
        "待办队列",
        "超期督办",
        "回访整改",
        "绩效评估",
        "电子监察",
        "终端总览",
        "终端告警",
        "服务目录",
        "节假日",
    ],
}
LANDING = {"operator": "/fleet/", "manager": "/queue", "clerk_mz": "/queue", "auditor": "/overdue"}
NAMES = {"operator": "钱运维", "manager": "王主任", "clerk_mz": "李经办", "auditor": "赵监察"}


@pytest.fixture
def hub_db_url(sqlite_hub_db_url: str) -> str:
    """SQLite alone: the pages are the point here (tests/conftest.py, ``sqlite_hub_db_url``)."""
    return sqlite_hub_db_url


def _sign_in(page: Any, web: str, username: str) -> None:
    page.goto(f"{web}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button:has-text('登录')")


def _nav(page: Any) -> list[str]:
    return [a.strip() for a in page.locator("header nav a").all_inner_texts()]


@pytest.mark.parametrize("username", ["operator", "manager", "clerk_mz", "auditor"])
def test_each_role_has_one_navigation_with_its_name_and_sign_out_on_every_page(hub, people, web, page, username):
    ingest(hub.engine, ["MZ-001"], terminal="JW001-K1")  # a terminal, so the fleet pages have one to show
    _sign_in(page, web, username)
    page.wait_for_url(f"{web}{LANDING[username]}")
    assert _nav(page) == NAV[username]
    for link in page.locator("header nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
        page.goto(web + link)
        assert page.locator("h1, h2").count() > 0, link  # the page itself, not an error page
        assert _nav(page) == NAV[username], link
        assert page.locator("header nav a.active").count() == 1, link
        assert NAMES[username] in page.locator("#signed-in").inner_text(), link
        if username == "clerk_mz":  # the department by name on every page (the help page said 经办人：MZ)
            assert (
                "民政" in page.locator("#signed-in").inner_text()
                and "MZ" not in page.locator("#signed-in").inner_text()
            ), link
        assert page.locator("#sign-out").is_visible(), link
    if username == "operator":
        page.goto(f"{web}/fleet/terminals/JW001-K1")
        assert _nav(page) == NAV[username] and page.locator("#sign-out").is_visible()
        assert page.locator("header nav a.active").inner_text() == "终端总览"
        page.goto(f"{web}/fleet/")
        if hub.settings.database_url.startswith("sqlite"):
            keep_screenshot(page, "hub-operator-fleet", "hub")
    page.click("#sign-out")
    page.wait_for_url(f"{web}/login")


def test_a_clerk_sees_committees_by_name_the_social_worker_and_one_action_at_a_time(
    hub, people, web, page, edge_factory
):
    committees.set_name(hub.engine, "JW001", COMMITTEE, "cli:test")
    edge = edge_factory("JW001-K1")
    edge.start_sync()
    made = edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(3), materials=["身份证"], agent="社工S01"))
    case_id = str(made.case_id)
    wait_for(lambda: (edge.cases.get(case_id) or {}).get("version") == 1, what="the case at the hub")

    _sign_in(page, web, "clerk_mz")
    page.wait_for_url(f"{web}/queue")
    row = page.locator("tbody tr", has_text="老年综合津贴申领")
    assert COMMITTEE in row.inner_text() and "JW001" not in row.inner_text().replace(made.receipt_no, "")
    row.locator("a").click()
    page.wait_for_url(f"{web}/cases/{case_id}")
    assert page.locator("#committee").inner_text() == COMMITTEE
    first = page.locator("#timeline li").first.inner_text()
    assert f"{COMMITTEE} 自助终端提交 · 代办社工 社工S01" in first and "hub" not in first

    # One action at a time: none open; opening one closes the other; each says what the resident sees.
    actions = page.locator("#actions details.action")
    assert actions.count() == 4 and page.locator("#actions details[open]").count() == 0
    assert page.locator("details[data-action=route] option").all_text_contents() == ["中心综合窗口"]  # send it back
    # Not yet accepted: the centre's refusal is 不予受理 (不予批准 comes only after review)
    refuse, withdraw = page.locator("details[data-action=refuse]"), page.locator("details[data-action=withdraw]")
    assert page.locator("details[data-action=reject]").count() == 0
    refuse.locator("summary").click()
    assert refuse.locator("textarea").is_visible() and not withdraw.locator("textarea").is_visible()
    assert "申请人将看到：状态「不予受理」，以及您填写的不予受理理由" in refuse.inner_text()
    assert "不予受理的理由和依据" in refuse.locator("label").inner_text()
    withdraw.locator("summary").click()
    assert page.locator("#actions details[open]").count() == 1 and withdraw.locator("textarea").is_visible()
    assert "申请人将看到：状态「已撤回」，以及您填写的撤回说明" in withdraw.inner_text()
    assert "申请人本人要求撤回" in withdraw.inner_text() and "撤回说明" in withdraw.locator("label").inner_text()
    if hub.settings.database_url.startswith("sqlite"):
        keep_screenshot(page, "hub-case-actions", "hub", full_page=True)

    withdraw.locator("textarea").fill("申请人来电要求撤回")
    withdraw.locator("button").click()
    page.wait_for_selector("text=已执行「申请人撤回」")
    last = page.locator("#timeline li").last.inner_text()
    assert "已撤回" in last and "李经办" in last


@pytest.mark.parametrize(
    ("skew", "shown"),
    [
        (0.2, "与中心一致（相差不到 1 秒）"),
        (-0.4, "与中心一致（相差不到 1 秒）"),
        (-3.0, "3.0 秒（终端比中心快）"),
        (400.0, "7 分钟（终端比中心慢）"),
    ],
)
def test_an_operator_reads_a_clock_offset_with_a_direction_only_when_there_is_one(hub, people, web, page, skew, shown):
    ingest(hub.engine, ["MZ-001"], terminal="JW001-K1")
    with hub.engine.begin() as conn:  # the hub's time minus the terminal's, as ingest stores it
        conn.execute(update(_terms).where(_terms.c.terminal_id == "JW001-K1").values(clock_skew_s=skew))
    _sign_in(page, web, "operator")
    page.wait_for_url(f"{web}/fleet/")
    page.goto(f"{web}/fleet/terminals/JW001-K1")
    assert page.locator("#clock-offset").inner_text() == shown
