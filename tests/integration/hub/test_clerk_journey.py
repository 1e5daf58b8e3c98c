"""A clerk's day in headless Chromium, with the case coming from a real terminal over the real broker.

A terminal (EdgeRuntime) accepts a 老年综合津贴 application and syncs it to the hub. The 民政 clerk signs
in, takes the case from the department queue (受理), sends one notice listing the missing materials
(补正), records them received and approves the case (办结). After each step the terminal has the new
state and version, published by the hub after its commit. Then, with a centre's worth of sample cases,
the queue, the case, the overdue board and the report are photographed: into tests/artifacts/hub on
every run, and into docs/screenshots when a picture is missing there or the run was started with
SHEGONG_TEST_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from edge.store.cases import NewCase
from harness.samples import populate
from protocol.envelope import utcnow
from protocol.localtime import local_date
from tests.support import applicant, hub_count, wait_for
from tests.unit.hub.helpers import PASSWORDS

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ARTIFACTS = ROOT / "tests" / "artifacts" / "hub"
UPDATE_DOCS = os.environ.get("SHEGONG_TEST_UPDATE_SCREENSHOTS") == "1"  # read before the env is cleaned


def _terminal_has(edge, case_id: str, status: str, version: int) -> bool:
    row = edge.cases.get(case_id)
    return bool(row) and (row["status"], row["version"]) == (status, version)


@pytest.mark.browser
def test_a_clerk_takes_asks_for_materials_and_approves_and_the_terminal_follows(
    hub, people, web, page, edge_factory, hub_db_url
):
    edge = edge_factory("T1")
    edge.start_sync()
    case_id = str(edge.cases.submit(NewCase(item_code="MZ-001", applicant=applicant(7), materials=["身份证"])).case_id)
    wait_for(lambda: _terminal_has(edge, case_id, "submitted", 1), what="the hub's first event at the terminal")

    page.goto(f"{web}/queue")
    page.fill("#username", "clerk_mz")
    page.fill("#password", PASSWORDS["clerk_mz"])
    page.click("button:has-text('登录')")
    page.wait_for_url(f"{web}/queue")
    row = page.locator("tbody tr", has_text="老年综合津贴申领")
    assert "310101********" in row.inner_text()  # the ID number is masked
    row.locator("a").click()
    page.wait_for_url(f"{web}/cases/{case_id}")

    page.click("details[data-action=accept] summary")  # one action at a time: open it, then confirm
    page.click("form[data-action=accept] button")
    page.wait_for_selector("text=已执行「受理」")
    wait_for(lambda: _terminal_has(edge, case_id, "accepted", 2), what="受理 at the terminal")

    page.click("details[data-action=request_materials] summary")
    notice = page.locator("form[data-action=request_materials]")
    notice.locator("input[value='居民户口簿']").check()
    notice.locator("textarea[name=other_materials]").fill("近三个月居住证明")
    notice.locator("textarea[name=reason]").fill("户籍信息需核对")
    notice.locator("button").click()
    page.wait_for_selector("text=已执行「一次性告知补正」")
    wait_for(lambda: _terminal_has(edge, case_id, "more_materials", 3), what="补正 at the terminal")
    status_note = edge.cases.get(case_id)["status_note"]
    assert "1. 居民户口簿" in status_note and "2. 近三个月居住证明" in status_note and "户籍信息需核对" in status_note

    page.click("details[data-action=resume] summary")
    page.click("form[data-action=resume] button")
    page.wait_for_selector("text=已执行「补正材料已收齐」")
    wait_for(lambda: _terminal_has(edge, case_id, "under_review", 4), what="审核中 at the terminal")

    page.click("details[data-action=complete] summary")
    page.locator("form[data-action=complete] textarea").fill("符合条件，津贴次月发放")
    page.click("form[data-action=complete] button")
    page.wait_for_selector("text=已执行「办结（批准）」")
    wait_for(lambda: _terminal_has(edge, case_id, "completed", 5), what="办结 at the terminal")
    assert page.locator("#case-status").inner_text() == "已办结（版本 5）"
    assert page.locator("form[data-action]").count() == 0  # nothing left to do
    steps = "SELECT count(*) FROM audit WHERE actor = 'user:clerk_mz' AND action <> 'case.viewed'"
    assert hub_count(hub.engine, steps) == 5
    viewed = "SELECT count(*) FROM audit WHERE actor = 'user:clerk_mz' AND action = 'case.viewed' AND subject = :c"
    assert hub_count(hub.engine, viewed, c=case_id) >= 5, "each look at the case's page is recorded"

    # Photographs with a centre's worth of cases (from the SQLite run).
    today = local_date(utcnow())
    populate(hub.engine, 400, start=today - timedelta(days=45), days=45, seed=7)
    shots = {
        "hub-queue": "/queue?department=MZ",
        "hub-case": f"/cases/{case_id}",
    }
    for name, path in shots.items():
        page.goto(web + path)
        _shoot(page, name, hub_db_url)
    page.click("button:has-text('退出')")
    page.wait_for_url(f"{web}/login")
    page.fill("#username", "manager")
    page.fill("#password", PASSWORDS["manager"])
    page.click("button:has-text('登录')")
    page.goto(f"{web}/overdue")
    assert page.locator("text=红牌：已超过承诺时限").count() == 1
    _shoot(page, "hub-overdue", hub_db_url)
    page.goto(f"{web}/reports?start={today - timedelta(days=45)}&end={today}")
    assert page.locator("svg").count() == 4
    _shoot(page, "hub-reports", hub_db_url)


def _shoot(page, name: str, hub_db_url: str) -> None:
    if not hub_db_url.startswith("sqlite"):
        return  # one set of pictures is enough
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot))
    published = SCREENSHOTS / f"{name}.png"
    if UPDATE_DOCS or not published.exists():
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, published)
