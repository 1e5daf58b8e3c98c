"""The kiosk's portrait screen (1080×1920) as a resident sees it, in Chromium.

The always-visible controls (English / 呼叫工作人员 / 结束) stay exactly where they were when the link to the
centre drops and the offline banner appears, and when the language changes. The welcome page's lower half
shows a drawing of where the card reader is, and the instructions ("put your ID card on the reader") do
not look like buttons: no button border, an arrow cursor, nothing inside to press.
"""

from __future__ import annotations

import pytest

from tests.support import keep_screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

PORTRAIT = {"width": 1080, "height": 1920}
CONTROLS = ("#lang-toggle", "#call-staff", "#finish")


def _boxes(page) -> dict[str, dict[str, float]]:
    return {sel: page.locator(sel).bounding_box() for sel in CONTROLS}


def test_controls_stay_put_when_the_offline_banner_appears(edge_factory, broker, start_kiosk, page):
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    k = start_kiosk(runtime=edge)
    page.set_viewport_size(PORTRAIT)
    page.goto(k.url)
    assert page.locator(".bar .offline").count() == 0
    online = _boxes(page)

    broker.stop()
    wait_for(lambda: not edge.agent.connected_event.is_set(), what="terminal notices the broker is gone")
    page.reload()
    assert page.locator(".bar .offline").is_visible()
    assert _boxes(page) == online, "a control moved when the offline banner appeared"
    # The banner sits under the controls, across the screen, not beside them.
    banner = page.locator(".bar .offline").bounding_box()
    assert banner["y"] >= max(b["y"] + b["height"] for b in online.values()) - 1

    page.click("#lang-toggle")
    page.wait_for_selector("html[lang=en]")
    assert _boxes(page) == online, "a control moved when the language changed"


def test_the_lower_half_shows_where_the_card_reader_is(start_kiosk, page):
    k = start_kiosk()
    page.set_viewport_size(PORTRAIT)
    page.goto(k.url)
    picture = page.locator("#reader-where img")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "the drawing loads"
    box = picture.bounding_box()
    assert box["y"] >= PORTRAIT["height"] / 2 - box["height"] / 2, "in the lower half of the screen"
    assert box["y"] + box["height"] <= PORTRAIT["height"], "on screen without scrolling"
    assert "读卡区在屏幕下方" in page.locator("#reader-where figcaption").inner_text()
    assert "读卡区" in (picture.get_attribute("alt") or "")
    keep_screenshot(page, "kiosk-welcome", "kiosk-portrait")  # not the journey's kiosk/kiosk-welcome


def test_instructions_do_not_look_like_buttons(start_kiosk, page):
    k = start_kiosk(devices={"sscard_lib": "/usr/lib/vendor/libiReadCardBas.so"})  # offers the 社保卡 too
    page.set_viewport_size(PORTRAIT)
    page.goto(k.url)
    button = page.locator("#scan-receipt").evaluate(
        "e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.borderTopWidth, s.cursor]; }"
    )
    assert button == ["solid", "3px", "pointer"]  # what a button looks like here (kiosk.css .btn)
    for sel in ("#tap-card", "#tap-ss"):
        style = page.locator(sel).evaluate(
            "e => { const s = getComputedStyle(e); return {top: s.borderTopStyle,"
            " right: s.borderRightStyle, radius: s.borderTopLeftRadius, cursor: s.cursor}; }"
        )
        assert style == {"top": "none", "right": "none", "radius": "0px", "cursor": "default"}, sel
        assert page.locator(f"{sel} a, {sel} button, {sel} input").count() == 0, "nothing in it to press"


def test_the_welcome_page_offers_the_social_security_card_only_where_it_can_be_read(start_kiosk, page):
    """The default terminal has no social-security card reader: an older resident with only a 敬老卡 was told
    to insert it, and nothing happened."""
    k = start_kiosk()
    page.goto(k.url)
    page.wait_for_selector("#tap-card")
    assert page.locator("#tap-ss").count() == 0 and "社保卡" not in page.locator("main").inner_text()
