"""Staff check a needs-check item's conditions at the kiosk, and the verdict follows their answers.

李娜 (34) taps her ID card; 失业登记 (RS-002) needs her to be out of work, which the card cannot tell, so
it is "needs staff check". A social worker logs in, opens 核实条件 on the item, answers the question, and
is sent back to the item: 是 makes it eligible (and the case she submits records the answer beside the
agent), 否 makes it not eligible with the reason. A tampered answer is refused with a 400 page.
"""

from __future__ import annotations

import re

import pytest

from edge.devices.sim.identities import identity
from tests.support import unseal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def _staff_on_rs002_checks(page, k) -> None:
    page.goto(k.url)
    k.tap("li-na")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/staff?next=/item/RS-002")
    page.fill("#staff_id", "demo")
    page.fill("#pin", "246810")
    page.click("#staff-submit")
    page.wait_for_url(re.compile(r"/item/RS-002$"))
    assert page.locator(".verdict.needs_check").count() == 1
    page.click("#check-conditions")
    page.wait_for_url(re.compile(r"/item/RS-002/checks$"))
    assert "目前是否无业" in page.locator("#q-unemployed").inner_text()


def test_staff_answer_makes_the_item_eligible_and_the_case_records_it(start_kiosk, page, shot):
    k = start_kiosk()
    _staff_on_rs002_checks(page, k)
    page.check("input[name=check_unemployed][value=true]")
    shot(page, "staff-checks")
    page.click("#checks-submit")
    page.wait_for_url(re.compile(r"/item/RS-002$"))
    assert page.locator(".verdict.eligible").count() == 1
    assert page.locator("#check-conditions").count() == 1  # staff can still correct the answer
    page.click("#apply")
    page.fill("#field_phone", "13700137000")
    page.fill("#field_last_job_end", "2026-02-27")
    page.click("#to-confirm")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/receipt/"))
    case = unseal(k.runtime.cases.cases_of(identity("li-na").id_number)[0]["payload"])
    assert case.agent == "demo" and case.form["check_unemployed"] == "true"


def test_staff_answer_makes_the_item_not_eligible_and_a_tampered_answer_is_refused(start_kiosk, page):
    k = start_kiosk()
    _staff_on_rs002_checks(page, k)
    radio = page.locator("input[name=check_unemployed][value=false]")
    radio.evaluate("el => { el.value = 'maybe'; el.checked = true; }")
    with page.expect_navigation() as refused:
        page.click("#checks-submit")
    assert refused.value.status == 400
    assert "takes true or false" in page.locator("#message").inner_text()

    page.goto(f"{k.url}/item/RS-002/checks")
    assert page.locator("input[name=check_unemployed]:checked").count() == 0  # nothing was kept
    page.check("input[name=check_unemployed][value=false]")
    page.click("#checks-submit")
    page.wait_for_url(re.compile(r"/item/RS-002$"))
    assert "目前有工作" in page.locator(".verdict.not_eligible").inner_text()
    assert page.locator("#apply").count() == 0

    page.click("#check-conditions")  # a wrong answer is corrected on the same page
    assert page.locator("input[name=check_unemployed][value=false]").is_checked()
    page.check("input[name=check_unemployed][value=true]")
    page.click("#checks-submit")
    page.wait_for_url(re.compile(r"/item/RS-002$"))
    assert page.locator(".verdict.eligible").count() == 1 and page.locator("#apply").count() == 1
