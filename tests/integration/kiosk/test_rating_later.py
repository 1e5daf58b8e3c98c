"""满意度评价 once the centre has decided (walk-through: a resident could rate a case only on its receipt,
right after submitting, before anything had been done for it). 孙志明 applies twice at the kiosk; the
centre (hub on SQLite and PostgreSQL) completes one case; days later he taps his card, opens 我的办件 and
rates the decided case — very dissatisfied, which opens a return call at the centre. The open case offers
no rating; a rated case offers none again; another resident cannot reach his case's rating page."""

from __future__ import annotations

import re

import pytest

from hub.cases.states import Action
from hub.web.services import Services
from protocol.ratings import RatingLevel
from tests.support import hub_count, wait_for
from tests.unit.hub.helpers import add_users

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def _apply(page, url: str) -> str:
    page.goto(f"{url}/item/YB-007/apply")
    page.check("input[name=field_year] >> nth=0")
    page.click("#to-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    return page.url.rsplit("/", 1)[1]


def test_a_decided_case_is_rated_from_my_cases_and_reaches_the_centre_once(
    hub_factory, edge_factory, start_kiosk, page
):
    hub = hub_factory(router=None)
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    k = start_kiosk(runtime=edge)

    page.goto(k.url)
    k.tap("sun-zhiming")
    page.wait_for_url(re.compile(r"/services$"))
    decided, running = _apply(page, k.url), _apply(page, k.url)
    page.click("#finish")
    page.wait_for_selector("#ended-notice")

    services = Services.from_runtime(hub)
    manager = add_users(services.users)["manager"]
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM cases") == 2, what="both cases at the hub")
    services.workflow.act(manager, decided, Action.ACCEPT, 1)
    services.workflow.act(manager, decided, Action.COMPLETE, 2)
    wait_for(lambda: edge.cases.get(decided)["status"] == "completed", what="the decision at the terminal")

    k.tap("sun-zhiming")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/cases")
    assert page.locator(f"#rate-{running}").count() == 0, "a case still running is not rated from 我的办件"
    page.click(f"#rate-{decided}")
    assert page.locator("h1").inner_text() == "请对本次服务进行评价"
    page.click("#reason")  # typed on the screen's keyboard: there is no other
    assert page.locator("#textpad").is_visible()
    page.fill("#reason", "等了很久才办好")
    page.click(f"#level-{int(RatingLevel.VERY_DISSATISFIED)}")
    page.click("#rate-submit")
    page.wait_for_selector("#rated")
    assert page.locator("#rated").inner_text().strip().endswith("谢谢您的评价！")
    assert page.locator(f"#rate-{decided}").count() == 0
    assert "已评价" in page.locator(f"#case-{decided}").inner_text()
    assert page.goto(f"{k.url}/cases/{decided}/rate").status == 404, "rated once: not offered again"

    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM ratings") == 1, what="the rating at the hub")
    assert hub_count(hub.engine, "SELECT count(*) FROM ratings WHERE case_id = :c AND level = 1", c=decided) == 1
    wait_for(lambda: hub_count(hub.engine, "SELECT count(*) FROM return_calls") == 1, what="a return call opened")
    assert hub_count(hub.engine, "SELECT count(*) FROM dead_letters") == 0

    page.goto(k.url)
    page.click("#finish") if page.locator("#finish").count() else None
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    assert page.goto(f"{k.url}/cases/{running}/rate").status == 404, "not her case"
