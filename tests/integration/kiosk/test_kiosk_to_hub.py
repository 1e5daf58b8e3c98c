"""The VPN is not on the receipt's path: a case submitted at the kiosk while the broker is down prints at
once, waits in the outbox, and reaches the hub (SQLite and PostgreSQL) when the broker is back."""

from __future__ import annotations

import re

import pytest

from tests.support import hub_count, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def test_case_submitted_with_the_broker_down_prints_at_once_and_reaches_the_hub_later(
    hub_factory, edge_factory, broker, start_kiosk, page
):
    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    k = start_kiosk(runtime=edge)

    broker.stop()
    wait_for(lambda: not edge.agent.connected_event.is_set(), what="terminal notices the broker is gone")
    page.goto(k.url)
    k.tap("sun-zhiming")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/YB-007/apply")
    page.check("input[name=field_year] >> nth=0")
    page.click("#to-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    receipt_no = page.locator("#receipt-no").inner_text()
    assert f"回执号：{receipt_no}" in k.printer.wait_for_receipt(1).text
    assert edge.outbox.stats().depth == 1
    case_id = page.url.rsplit("/", 1)[1]
    assert hub_count(hub.engine, "SELECT count(*) FROM cases WHERE case_id = :c", c=case_id) == 0

    broker.start()
    wait_for(
        lambda: hub_count(hub.engine, "SELECT count(*) FROM cases WHERE case_id = :c", c=case_id) == 1,
        timeout=30,
        what="case at the hub",
    )
    wait_for(lambda: edge.outbox.stats().depth == 0, what="outbox cleared by the hub's ack")
