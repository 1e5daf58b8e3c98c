"""A resident asks for SMS notices at the kiosk (a mobile number and a tick of consent on the form; the
kiosk refuses one without the other), sees the number masked on the confirm screen, and submits; the
number travels sealed inside the case (the terminal's own tables never hold it in clear) to the hub
(SQLite and PostgreSQL) over a real broker; when a clerk accepts the case, the hub's outbox sends the
notice through its HTTP gateway to a local server that records it."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy import text

from hub.cases.states import Action
from hub.notices.gateway import HttpGateway
from hub.notices.outbox import NoticeSender
from hub.settings import SmsSettings
from hub.web.services import Services
from tests.support import SmsGatewayServer, hub_count, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PHONE = "13800138000"
NOTIFY = "13912340000"


def test_a_resident_opts_in_at_the_kiosk_and_is_told_when_the_case_is_accepted(
    hub_factory, edge_factory, start_kiosk, page, tmp_path
):
    hub = hub_factory(router=None)
    edge = edge_factory()
    edge.start_sync()
    k = start_kiosk(runtime=edge)
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/DA-001/apply")
    page.fill("#field_phone", PHONE)
    page.check("input[name=field_purpose][value=办理继承]")
    page.fill("#notify_phone", NOTIFY)
    page.click("#to-confirm")
    assert "要收短信，请勾选同意" in page.locator("#err-notify_phone").inner_text()  # no consent, no number
    page.check("#notify_consent")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert page.locator("#confirm-sms").inner_text() == "139****0000"
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    case_id = page.url.rsplit("/", 1)[1]
    receipt_no = page.locator("#receipt-no").inner_text()

    wait_for(
        lambda: hub_count(hub.engine, "SELECT count(*) FROM cases WHERE case_id = :c", c=case_id) == 1,
        timeout=30,
        what="case at the hub",
    )
    with sqlite3.connect(edge.settings.db_path) as db:  # the terminal: sealed only
        dump = "\n".join(db.iterdump())
    assert NOTIFY not in dump

    services = Services.from_runtime(hub)
    clerk = services.users.add("clerk_da", "clerk-da-pass-1", "clerk", ["DA"])
    services.workflow.act(clerk, case_id, Action.ACCEPT, 1)
    gateway = SmsGatewayServer()
    try:
        sms = SmsSettings(url=gateway.url)
        assert NoticeSender(hub.engine, HttpGateway(gateway.url), sms).tick() == 1
        [message] = gateway.taken
    finally:
        gateway.close()
    assert message["phone"] == NOTIFY
    assert receipt_no in message["text"] and "婚姻登记档案查询" in message["text"] and "已受理" in message["text"]
    with hub.engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM sms_outbox WHERE case_id = :c"), {"c": case_id}).scalars().all()
    assert kinds == ["accepted"]
