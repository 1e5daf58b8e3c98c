"""呼叫工作人员 reaches people (issue 11, item 1), in headless Chromium, over the real broker.

A resident at a real kiosk (EdgeRuntime, kiosk app, simulated devices) taps 呼叫工作人员. The terminal's
heartbeat interval is long (5 s), so the hub hears of the call from the heartbeat the call itself asks
for. The operator, signed in at the hub, sees it flash on the dashboard, listed on /fleet/alerts with the
committee's name, and answers it on the committee's view of /help; the kiosk then says who is coming,
its alarm is gone and the hub's alert is cleared with the answer kept. The manager's report shows the
time from call to answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from edge.sync.agent import LinkState
from hub.db.models import FleetAlertRow
from hub.ingest import committees
from tests.integration.kiosk.conftest import start_kiosk  # noqa: F401 - the kiosk fixture, used here too
from tests.support import keep_screenshot, wait_for
from tests.unit.hub.helpers import PASSWORDS

pytestmark = pytest.mark.browser
_alerts = FleetAlertRow.__table__
COMMITTEE = "南京东路第一居委会"


def _help_alerts(engine: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        q = select(_alerts).where(_alerts.c.kind == "help_requested").order_by(_alerts.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def _sign_in(page: Any, web: str, username: str) -> None:
    page.goto(f"{web}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("button:has-text('登录')")


def test_a_call_for_staff_is_answered_by_name_and_the_kiosk_says_who_is_coming(
    hub,
    people,
    web,
    page,
    browser,
    edge_factory,
    start_kiosk,  # noqa: F811 - the kiosk conftest's fixture
    hub_db_url,
):
    committees.set_name(hub.engine, "JW001", COMMITTEE, "cli:test")
    edge = edge_factory("JW001-K1", heartbeat_s=5.0)
    edge.start_sync()
    wait_for(lambda: edge.agent.state is LinkState.ONLINE, what="the terminal online")
    k = start_kiosk(runtime=edge)
    context = browser.new_context(viewport={"width": 1080, "height": 1920}, locale="zh-CN")
    kiosk = context.new_page()
    kiosk.set_default_timeout(8000)
    k.admit(kiosk)

    # The operator signs in and lands on the fleet dashboard, nothing calling yet.
    _sign_in(page, web, "operator")
    page.wait_for_url(f"{web}/fleet/")
    assert page.locator("#help-banner").count() == 0

    kiosk.click("#call-staff")
    kiosk.wait_for_selector("#help-notice")
    assert "已呼叫工作人员，请在此稍候" in kiosk.locator("#help-text").inner_text()  # nobody answered yet
    # Heard within the heartbeat interval: the call sent its own heartbeat.
    wait_for(lambda: _help_alerts(hub.engine), timeout=4.0, what="the hub's help alert")

    page.goto(f"{web}/fleet/")
    banner = page.locator("#help-banner")
    assert "1 位居民正在呼叫工作人员" in banner.inner_text()
    assert banner.evaluate("e => getComputedStyle(e).animationName") == "help-flash"  # it flashes
    assert page.locator("audio[src='/static/help-call.wav'][autoplay]").count() == 1
    assert "居民呼叫工作人员" in page.locator("tr[data-terminal='JW001-K1']").inner_text()
    page.goto(f"{web}/fleet/alerts")
    row = page.locator("#alerts tr[data-kind=help_requested]")
    assert COMMITTEE in row.inner_text() and "去响应" in row.inner_text()

    # The committee's view; the operator answers by name.
    page.goto(f"{web}/help?committee=JW001")
    # It reloads itself every 10 s, which sent a keyboard or screen reader user back to the top (an
    # accessibility review): one link pauses that, keeping the committee chosen, and one resumes it.
    assert page.locator("meta[http-equiv=refresh]").count() == 1
    page.click("#refresh-toggle")
    assert page.url.endswith("/help?committee=JW001&refresh=off")
    assert page.locator("meta[http-equiv=refresh]").count() == 0 and "自动刷新已暂停" in page.content()
    page.click("#refresh-toggle")
    assert page.url.endswith("/help?committee=JW001") and page.locator("meta[http-equiv=refresh]").count() == 1
    call = page.locator("#help-calls tr.help-waiting")
    assert COMMITTEE in call.inner_text() and "等待响应" in call.inner_text()
    if hub_db_url.startswith("sqlite"):
        keep_screenshot(page, "hub-help-call", "hub")
    call.locator("button:has-text('我去处理')").click()
    page.wait_for_selector("text=已响应：终端将显示“钱运维 正在赶来”")

    # The kiosk's page, still open, says who is coming; its alarm is gone, and so the hub's alert.
    kiosk.wait_for_selector("#help-text:has-text('钱运维 已收到您的呼叫，正在赶来')")
    assert "help_requested" not in edge.alarms.active()
    wait_for(lambda: _help_alerts(hub.engine)[0]["cleared_at"] is not None, timeout=8.0, what="the alert cleared")
    alert = _help_alerts(hub.engine)[0]
    assert (alert["acknowledged_by"], alert["responder"]) == ("operator", "钱运维")
    assert alert["raised_at"] <= alert["acknowledged_at"] <= alert["cleared_at"]
    if hub_db_url.startswith("sqlite"):
        keep_screenshot(kiosk, "kiosk-help-answered", "kiosk")
    page.goto(f"{web}/help")
    assert "钱运维" in page.locator("#help-calls").inner_text()
    assert page.locator("#help-banner").count() == 0
    context.close()

    # The manager's report: one call, answered, and how long it took.
    page.click("#sign-out")
    _sign_in(page, web, "manager")
    page.wait_for_url(f"{web}/queue")
    page.goto(f"{web}/reports")
    report = page.locator("#help-report tbody tr").first.inner_text()
    assert COMMITTEE in report and "\t1\t1\t" in report, report
