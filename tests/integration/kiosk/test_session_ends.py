"""How a resident's session ends, and that nothing of it is left in the browser afterwards.

The idle timeout is shortened (4 s, warning 2.5 s before) so the warning, its one-tap extension and the
timeout itself run in seconds. The finish button, a different card on the reader and the timeout each
clear the screen; the back button afterwards shows the welcome page, never the resident's data.
"""

from __future__ import annotations

import re
import time

import pytest

from edge.devices.sim.identities import identity

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


_COUNT_TONES = """
window.tonesStarted = 0;
const made = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  const tone = made.call(this);
  const start = tone.start.bind(tone);
  tone.start = (...at) => { window.tonesStarted += 1; return start(...at); };
  return tone;
};
"""
"""Counts the notes the page starts (headless Chromium has no speaker to listen at)."""


def _personal(page, who: str) -> bool:
    person = identity(who)
    html = page.content()
    return person.name in html or person.id_number[-4:] in html


def test_idle_warning_shows_before_the_timeout_one_tap_extends_then_the_screen_clears(start_kiosk, page, shot):
    k = start_kiosk(idle=4.0, warn=2.5)
    page.add_init_script(_COUNT_TONES)
    page.goto(k.url)
    k.tap("wang-xiuying")
    page.wait_for_url(re.compile(r"/services$"))
    started = time.monotonic()
    warning = page.locator("#idle-warning")
    assert warning.is_hidden()

    warning.wait_for(state="visible", timeout=5000)
    shown_after = time.monotonic() - started
    assert 1.0 <= shown_after <= 2.5, f"warning after {shown_after:.1f} s"
    assert "秒后将自动结束" in warning.inner_text()
    assert page.evaluate("window.tonesStarted") == 2, "two notes sound as the warning comes up"
    shot(page, "idle-warning")
    page.click("#idle-extend")
    assert warning.is_hidden()
    time.sleep(2.0)  # past the first deadline: the tap extended it
    assert page.url.endswith("/services") and _personal(page, "wang-xiuying")

    page.wait_for_url(re.compile(r"/\?ended=timeout$"), timeout=8000)
    assert "自动结束" in page.locator("#ended-notice").inner_text()
    assert not _personal(page, "wang-xiuying")
    assert len(k.kiosk.sessions) == 0
    page.go_back()
    page.wait_for_load_state()
    assert not _personal(page, "wang-xiuying")


def test_finish_clears_the_screen_and_back_shows_nothing_personal(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    k.tap("zhou-guilan")
    page.wait_for_url(re.compile(r"/services$"))
    page.click("a.item >> nth=0")
    page.wait_for_selector("#item-name")
    response = page.request.get(page.url)
    assert response.headers["cache-control"] == "no-store"
    page.goto(f"{k.url}/cases")
    assert _personal(page, "zhou-guilan")

    page.click("#finish")
    page.wait_for_url(re.compile(r"/\?ended=finish$"))
    assert not _personal(page, "zhou-guilan")
    for _ in range(3):  # back through the cases page, the item page and the services page
        page.go_back()
        page.wait_for_load_state()
        assert not _personal(page, "zhou-guilan"), page.url
    assert page.locator("h1").inner_text() == "欢迎使用社区自助服务"
    assert page.context.cookies() and all(c["name"] != "kiosk_sid" for c in page.context.cookies())


def test_a_different_card_replaces_the_first_resident_and_the_same_card_keeps_the_session(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/MZ-003")
    assert _personal(page, "zhang-wei")

    k.reader.remove()
    time.sleep(0.4)
    k.tap("zhang-wei")  # the same card again: nothing happens
    time.sleep(0.8)
    assert page.url.endswith("/item/MZ-003")

    k.tap("li-na")  # another resident: the first one's session ends, the screen follows the new card
    page.wait_for_function(
        "() => document.querySelector('.holder') && document.querySelector('.holder').innerText.includes('李娜')"
    )
    assert page.url.endswith("/services")
    assert not _personal(page, "zhang-wei")
    assert len(k.kiosk.sessions) == 1
    page.go_back()
    page.wait_for_load_state()
    assert not _personal(page, "zhang-wei")


def test_an_invalid_card_is_refused_in_plain_chinese(start_kiosk, page):
    k = start_kiosk()
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    k.tap("bad-check-digit")
    page.wait_for_selector("#message")
    text = page.locator("#message").inner_text()
    assert "这张证件无法使用" in text and "校验码不符" in text
    assert len(k.kiosk.sessions) == 0


def test_after_the_browser_restarts_the_same_card_shows_the_holders_services_at_once(start_kiosk, page, browser):
    """The kiosk's browser restarted during 张伟's session (a new browser: no cookies). He taps his card
    again: the session goes on — with its draft — and the new page shows his services within 2 s, not
    after the 60 s his old session takes to time out."""
    k = start_kiosk()
    page.goto(k.url)
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "kiosk_sid")
    page.context.close()  # the browser goes away mid-session

    context = browser.new_context(viewport={"width": 1000, "height": 1250}, locale="zh-CN")
    try:
        again = context.new_page()
        k.admit(again)  # the new browser comes in through this start's way in, as at boot
        k.reader.remove()
        time.sleep(0.4)
        tapped = time.monotonic()
        k.tap("zhang-wei")
        again.wait_for_url(re.compile(r"/services$"), timeout=2000)
        again.wait_for_selector(".items .item", timeout=max(100, 2000 - int((time.monotonic() - tapped) * 1000)))
        assert time.monotonic() - tapped < 2.0
        assert _personal(again, "zhang-wei")
        assert next(c["value"] for c in context.cookies() if c["name"] == "kiosk_sid") == sid, "the same session"
        assert len(k.kiosk.sessions) == 1
    finally:
        context.close()


def test_finish_with_a_form_half_filled_asks_once_more_and_a_second_tap_ends(start_kiosk, page):
    """An elderly residents' review: a tap meant for the keyboard landed on 结束 and threw a long form away.
    With something typed, 结束 says what it would clear; a second tap ends. Nothing typed: one tap ends."""
    k = start_kiosk()
    page.goto(k.url)
    k.tap("zhou-guilan")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/YB-007/apply")
    page.click("#finish")  # nothing chosen yet: it ends at once
    page.wait_for_url(re.compile(r"/\?ended=finish$"))

    k.tap("zhou-guilan")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/YB-007/apply")
    page.check("input[name=field_year] >> nth=0")
    page.click("#finish")
    confirm = page.locator("#finish-confirm")
    confirm.wait_for(state="visible")
    assert "再按一次「结束」" in confirm.inner_text()
    assert page.url.endswith("/item/YB-007/apply") and _personal(page, "zhou-guilan")
    assert page.locator("input[name=field_year] >> nth=0").is_checked(), "what she chose is still there"
    page.click("#finish")
    page.wait_for_url(re.compile(r"/\?ended=finish$"))
    assert not _personal(page, "zhou-guilan")
