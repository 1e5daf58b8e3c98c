"""A social worker signs in once and helps one resident after another, in Chromium.

The PIN is typed at the welcome page; 张伟 is helped and finishes; 李娜 taps her card and the worker is
still signed in — no PIN again — with the time the sign-in lasts on screen and 工作人员登录 hidden.
One tap on 退出工作人员模式 signs out. A short sign-in time (3 s here; 30 min by default) runs out by
itself, and the welcome page offers 工作人员登录 again.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import text

from tests.support import STAFF_ID, STAFF_PIN, keep_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def _sign_in(page, k) -> None:
    page.goto(k.url)
    page.click("#staff-login")
    page.fill("#staff_id", STAFF_ID)
    page.fill("#pin", STAFF_PIN)
    page.click("#staff-submit")
    page.wait_for_url(f"{k.url}/")


def _tap(page, k, who: str) -> None:
    k.reader.remove()
    k.tap(who)
    page.wait_for_url(re.compile(r"/services$"))


def test_staff_stay_signed_in_across_residents_until_they_sign_out(start_kiosk, page):
    k = start_kiosk()
    _sign_in(page, k)
    assert f"工作人员模式：{STAFF_ID}" in page.locator("#staffbar").inner_text()
    assert re.search(r"登录有效至 \d\d:\d\d", page.locator("#staff-until").inner_text())
    assert page.locator("#staff-login").count() == 0, "工作人员登录 is hidden while signed in"

    _tap(page, k, "zhang-wei")
    assert STAFF_ID in page.locator("#staffbar").inner_text()
    page.click("#finish")
    page.wait_for_url(re.compile(r"/\?ended=finish$"))
    assert STAFF_ID in page.locator("#staffbar").inner_text(), "still signed in after the resident finished"
    assert page.locator("#staff-login").count() == 0

    _tap(page, k, "li-na")  # the next resident: no PIN typed again
    assert "李娜" in page.locator(".holder").inner_text()
    assert STAFF_ID in page.locator("#staffbar").inner_text()
    page.set_viewport_size({"width": 1080, "height": 1920})
    keep_screenshot(page, "kiosk-staff-signed-in", "kiosk")
    page.goto(f"{k.url}/item/RS-002")
    assert page.locator("#apply").count() == 1, "staff may apply on her behalf"

    page.click("#staff-logout")  # one tap
    page.wait_for_load_state()
    assert page.locator("#staffbar").count() == 0
    assert page.locator("#apply").count() == 0 and page.locator("#needs-staff").count() == 1
    page.click("#finish")
    page.wait_for_url(re.compile(r"/\?ended=finish$"))
    assert page.locator("#staff-login").is_visible()
    assert k.kiosk.sessions.staff() is None


def test_a_staff_sign_in_runs_out_after_its_time(start_kiosk, page):
    k = start_kiosk(kiosk={"staff_signin_s": 3})
    _sign_in(page, k)
    assert page.locator("#staffbar").is_visible()
    # The welcome page shows 工作人员登录 again by itself once the time is up.
    page.wait_for_selector("#staff-login", timeout=8000)
    assert page.locator("#staffbar").count() == 0
    _tap(page, k, "li-na")
    assert page.locator("#staffbar").count() == 0, "the next resident gets no staff mode"
    page.goto(f"{k.url}/item/RS-002")
    assert page.locator("#apply").count() == 0


def test_guessing_pins_locks_staff_login_and_raises_an_alarm_the_hub_hears_of(start_kiosk, page):
    """Five wrong PINs in a row lock staff login for a minute: the page says so at once, and the terminal
    raises ``staff_locked`` (its audit chain records it; heartbeats carry it to the hub's fleet page).
    The right PIN once the lock has passed clears it."""
    k = start_kiosk()
    k.kiosk.staff.lockout_s = 2.0  # a minute on a terminal; short here, so the test can wait it out
    page.goto(f"{k.url}/staff")
    for n in range(1, 6):
        page.fill("#staff_id", STAFF_ID)
        page.fill("#pin", f"{n:06d}")
        page.click("#staff-submit")
        page.wait_for_selector("#staff-error")
        error = page.locator("#staff-error").inner_text()
        assert ("工号或密码不对" if n < 5 else "密码错误次数过多") in error, (n, error)
    assert "staff_locked" in k.runtime.alarms.active()
    with k.runtime.engine.connect() as conn:
        raised = conn.execute(
            text("SELECT count(*) FROM audit_entries WHERE action = 'alarm.raised' AND subject = 'staff_locked'")
        ).scalar_one()
    assert raised == 1

    time.sleep(2.0)
    _sign_in(page, k)
    assert "staff_locked" not in k.runtime.alarms.active()
