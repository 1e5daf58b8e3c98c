"""我的办件 on a terminal that restarted during an outage (issue 10 §4): it has no lookup key from the hub
yet, so it cannot find a resident's earlier cases by their ID number. The page says so in Chinese and
lists the case the resident has just submitted in this session; once the link to the centre is back
(hub on SQLite and PostgreSQL) the terminal has its key and the holder keys, and the page lists the
earlier case too, without the notice."""

from __future__ import annotations

import re

import pytest

from edge.devices.sim.identities import identity
from edge.store.cases import NewCase
from protocol.cases import Applicant
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def test_my_cases_without_the_lookup_key_shows_this_sessions_case_then_all_once_online(
    hub_factory, edge_factory, start_kiosk, page
):
    edge = edge_factory()  # no link yet: no lookup key since it started
    sun = identity("sun-zhiming")
    earlier = edge.cases.submit(
        NewCase(item_code="YB-007", applicant=Applicant(id_number=sun.id_number, name=sun.name))
    )
    k = start_kiosk(runtime=edge)
    page.goto(k.url)
    k.tap("sun-zhiming")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/YB-007/apply")
    page.check("input[name=field_year] >> nth=0")
    page.click("#to-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    now = page.locator("#receipt-no").inner_text()

    page.goto(f"{k.url}/cases")
    notice = page.locator("#history-unavailable").inner_text()
    assert "与中心的连接恢复后即可查看" in notice and "这次在本终端办理的业务" in notice
    listed = page.locator("#cases").inner_text()
    assert now in listed and earlier.receipt_no not in listed
    assert page.locator("#no-cases").count() == 0

    hub_factory()
    edge.start_sync()
    wait_for(lambda: edge.cases.lookup_known and not edge.outbox.stats().depth, what="key and acks from the hub")
    wait_for(lambda: len(edge.cases.cases_of(sun.id_number)) == 2, what="both cases found by holder key")
    page.goto(f"{k.url}/cases")
    assert page.locator("#history-unavailable").count() == 0
    listed = page.locator("#cases").inner_text()
    assert now in listed and earlier.receipt_no in listed
