"""Digit fields have their own keypad on screen, in Chromium at the kiosk's portrait size.

A social worker types the PIN by tapping the keypad's keys (a wrong digit taken back with 删除), and
张伟 types his phone number the same way (清空 starts it again); the system keyboard is never asked for
(``inputmode="none"``). Every key is a large target: at least 64 px each way.
"""

from __future__ import annotations

import re

import pytest

from tests.support import STAFF_ID, STAFF_PIN, keep_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

PORTRAIT = {"width": 1080, "height": 1920}


def _tap_keys(page, field: str, keys: str) -> None:
    for key in keys:
        page.click(f'#keypad-{field} [data-key="{key}"]')


def _keys_are_large(page, field: str) -> None:
    keys = page.locator(f"#keypad-{field} .key")
    assert keys.count() == 12
    for i in range(keys.count()):
        box = keys.nth(i).bounding_box()
        assert box["width"] >= 64 and box["height"] >= 64, keys.nth(i).inner_text()


def test_staff_type_the_pin_on_the_keypad(start_kiosk, page):
    k = start_kiosk()
    page.set_viewport_size(PORTRAIT)
    page.goto(f"{k.url}/staff?next=/")
    assert page.locator("#pin").get_attribute("inputmode") == "none"
    _keys_are_large(page, "pin")
    assert page.locator("#staff_id").get_attribute("inputmode") == "none"
    page.click("#staff_id")
    for ch in STAFF_ID:  # sg-test, on the screen's keyboard in letters (英文)
        page.click(f'#textpad [data-tp="key"][data-ch="{ch}"]')
    assert page.locator("#staff_id").input_value() == STAFF_ID
    _tap_keys(page, "pin", STAFF_PIN[:3] + "9")
    page.click('#keypad-pin [data-key="back"]')  # 删除 takes the wrong 9 back
    _tap_keys(page, "pin", STAFF_PIN[3:])
    assert page.locator("#pin").input_value() == STAFF_PIN
    page.click("#staff-submit")
    page.wait_for_url(f"{k.url}/")
    assert STAFF_ID in page.locator("#staffbar").inner_text()


def test_a_resident_types_the_phone_number_on_the_keypad(start_kiosk, page):
    k = start_kiosk()
    page.set_viewport_size(PORTRAIT)
    page.goto(k.url)
    k.tap("zhang-wei")
    page.wait_for_url(re.compile(r"/services$"))
    page.goto(f"{k.url}/item/MZ-003/apply")
    assert page.locator("#field_phone").get_attribute("inputmode") == "none"
    _keys_are_large(page, "field_phone")
    _tap_keys(page, "field_phone", "555")
    page.click('#keypad-field_phone [data-key="clear"]')
    assert page.locator("#field_phone").input_value() == ""
    _tap_keys(page, "field_phone", "13800138000")
    page.fill("#field_lost_date", "2026-01-05")
    page.check("input[name=field_reissue] >> nth=0")
    page.locator("#keypad-field_phone").scroll_into_view_if_needed()
    keep_screenshot(page, "kiosk-keypad", "kiosk")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert "13800138000" in page.locator("#confirm-values").inner_text()


def _card_in(start_kiosk, page, ime_index, who: str, path: str = "", **options):
    """A kiosk with the keyboard's index (None: built when first needed), at the portrait size, ``who``'s card
    tapped, then at ``path``; ``options`` go to ``start_kiosk`` (``idle``, ``warn``)."""
    k = start_kiosk(kiosk={"ime_index": ime_index} if ime_index else {}, **options)
    page.set_viewport_size(PORTRAIT)
    page.goto(k.url)
    k.tap(who)
    page.wait_for_url(re.compile(r"/services$"))
    if path:
        page.goto(f"{k.url}{path}")
    return k


def _tap_letters(page, letters: str) -> None:
    for ch in letters:
        page.click(f'#textpad [data-tp="key"][data-ch="{ch}"]')


def _pick(page, word: str) -> None:
    page.locator("#tp-cands .cand", has_text=word).first.click()


def test_a_resident_types_a_name_in_pinyin_on_the_keyboard(start_kiosk, page, ime_index):
    """李娜 applies for 生育登记: her husband's name, 王强, is typed on the screen's own keyboard — wang, tap
    王; qiang, tap 强; a wrong letter taken back with 删除, letters cleared with 清空 without losing 王.
    Letters never picked are not sent as the name: the form asks for a pick first."""
    _card_in(start_kiosk, page, ime_index, "li-na", "/item/WJ-001/apply")
    name = page.locator("#field_spouse_name")
    assert name.get_attribute("inputmode") == "none" and name.get_attribute("data-kind") == "name"
    assert page.locator("#tp-for").inner_text() == "配偶姓名"  # it types into the first text field
    _tap_letters(page, "wangx")
    page.click('#textpad [data-tp="back"]')
    assert page.locator("#tp-letters").inner_text() == "wang"
    _pick(page, "王")
    _tap_letters(page, "li")
    page.click('#textpad [data-tp="clear"]')  # the letters go, 王 stays
    assert name.input_value() == "王" and page.locator("#tp-letters").inner_text() == ""
    page.click('#textpad [data-tp="clear"]')  # once more: it asks before the field's text goes
    page.locator("#tp-note", has_text="再按一次").wait_for()
    assert name.input_value() == "王"
    _tap_letters(page, "qiang")
    page.locator("#tp-cands .cand").first.wait_for()
    keys = page.locator("#textpad .key:visible")
    for i in range(keys.count()):
        box = keys.nth(i).bounding_box()
        assert box["width"] >= 64 and box["height"] >= 64 and box["x"] + box["width"] <= PORTRAIT["width"]
        assert box["y"] + box["height"] <= PORTRAIT["height"], "the keyboard is on screen while typing"
    row = page.locator("#tp-cands").bounding_box()
    assert row["height"] <= 90, "one line of words: the keys below never move"
    page.click("#to-confirm")  # qiang not picked yet
    note = page.locator("#tp-note", has_text="请先在上方点选汉字")
    note.wait_for()
    box, header = note.bounding_box(), page.locator("header").first.bounding_box()
    assert box["y"] >= header["y"] + header["height"] and box["y"] + box["height"] <= PORTRAIT["height"], "in sight"
    assert name.bounding_box()["y"] >= header["y"] + header["height"], "the field it is about, too"
    assert re.search(r"/apply$", page.url)
    page.locator("#field_spouse_name").scroll_into_view_if_needed()
    page.mouse.wheel(0, -300)  # the field and its label clear of the status bar
    keep_screenshot(page, "kiosk-textpad", "kiosk")
    _pick(page, "强")
    assert name.input_value() == "王强" and page.locator("#tp-letters").inner_text() == ""
    _tap_keys(page, "field_phone", "13800138000")
    _tap_keys(page, "field_spouse_id", "11010519491231002X")
    page.check("input[name=field_child_order] >> nth=0")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert "王强" in page.locator("#confirm-values").inner_text()


def test_a_resident_searches_by_initials_on_the_keyboard(start_kiosk, page, ime_index):
    """The search box takes pinyin initials (lnjt → 老年津贴): the keyboard appears when it is touched, and
    letters not turned into characters are searched as typed."""
    _card_in(start_kiosk, page, ime_index, "zhang-wei")
    assert page.locator("#textpad").is_hidden()  # the services come first
    page.click("#q")
    _tap_letters(page, "lnjt")
    page.locator("#tp-note", has_text="点“搜索”即按这些拼音首字母查找").wait_for()  # not "delete them"
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"q=lnjt"))
    assert "老年" in page.locator("#results").inner_text()


def test_what_was_typed_stays_when_the_language_is_switched(start_kiosk, page, ime_index):
    """有限公司 typed tap by tap in 就业登记, then English: the form in English still holds it."""
    _card_in(start_kiosk, page, ime_index, "li-na", "/item/RS-001/apply")
    _tap_letters(page, "youxiangongsi")
    _pick(page, "有限公司")
    _tap_keys(page, "field_phone", "13800138000")
    page.click("#lang-toggle")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#field_employer").input_value() == "有限公司"
    assert page.locator("#field_phone").input_value() == "13800138000"
    # Kept as it is typed, not only across the switch: a reload (calling staff, a card notice, 返回 and back)
    # leaves the form as it was (an accessibility review: each of them emptied it).
    page.reload()
    assert page.locator("#field_employer").input_value() == "有限公司"


def test_a_receipt_number_and_query_code_are_typed_on_the_keyboard(start_kiosk, page, ime_index):
    """Without the receipt's QR code, a resident types its number and query code: letters, digits and dashes
    on the screen's keyboard, which starts in letters here."""
    k = start_kiosk(kiosk={"ime_index": ime_index})
    page.set_viewport_size(PORTRAIT)
    page.goto(f"{k.url}/scan")
    assert page.locator("#textpad").get_attribute("data-mode") == "en"
    page.click("#receipt_no")
    for ch in "jw001-20261207-0001":
        page.click(f'#textpad [data-tp="key"][data-ch="{ch}"]')
    page.click("#query_code")
    page.click('#textpad [data-tp="caps"]')
    for ch in "abc234":
        page.click(f'#textpad [data-tp="key"][data-ch="{ch}"]')
    assert page.locator("#receipt_no").input_value() == "jw001-20261207-0001"
    assert page.locator("#query_code").input_value() == "ABC234"


def test_the_idle_warning_moves_nothing_and_calling_staff_keeps_what_was_typed(start_kiosk, page):
    """An accessibility review: the idle warning pushed the page 187 px down as it showed, and the tap that
    hid it landed 187 px lower — keys 1,3,3,3 typed 7999, a tap on one service opened another. And calling
    staff reloaded the form empty. The warning now lies over the page; what is typed is kept as it is typed."""
    _card_in(start_kiosk, page, None, "li-na", "/item/RS-001/apply", idle=6, warn=4)
    key = page.locator('#keypad-field_phone [data-key="1"]')
    key.scroll_into_view_if_needed()
    before = key.bounding_box()
    page.wait_for_selector("#idle-warning", state="visible", timeout=10_000)
    assert key.bounding_box() == before, "the warning moved the page under the finger"
    _tap_keys(page, "field_phone", "1333")  # the first tap also answers the warning
    assert page.locator("#field_phone").input_value() == "1333"
    assert page.locator("#idle-warning").is_hidden()
    _tap_keys(page, "field_phone", "8001380")
    page.click("#call-staff")
    page.wait_for_load_state()
    assert page.locator("#field_phone").input_value() == "13338001380", "calling staff kept the form"


def test_a_date_is_typed_on_its_keypad(start_kiosk, page, ime_index):
    """An accessibility review: a date field was the browser's own, which took only a hardware keyboard or a
    20-pixel calendar icon; five items need one. It has the digit keypad now: eight digits, year first."""
    _card_in(start_kiosk, page, ime_index, "li-na", "/item/RS-001/apply")
    _keys_are_large(page, "field_start_date")
    _tap_letters(page, "youxiangongsi")
    _pick(page, "有限公司")
    _tap_keys(page, "field_phone", "13800138000")
    _tap_keys(page, "field_start_date", "20261201")
    page.check("input[name=field_employment_type] >> nth=0")
    page.click("#to-confirm")
    page.wait_for_url(re.compile(r"/confirm$"))
    assert "2026-12-01" in page.locator("#confirm-values").inner_text()


def test_the_forms_next_button_is_in_sight_on_a_long_form(start_kiosk, page):
    """An accessibility review: 下一步 sat 300 to 1,500 px below a 1920-px screen, with no hint to swipe."""
    _card_in(start_kiosk, page, None, "li-na", "/item/RS-001/apply")
    box = page.locator("#to-confirm").bounding_box()
    assert box is not None and box["y"] + box["height"] <= PORTRAIT["height"], box


def test_finish_is_kept_apart_from_calling_staff(start_kiosk, page):
    """结束 drops everything typed; a slip from 呼叫工作人员 (13 px away) ended a resident's session."""
    _card_in(start_kiosk, page, None, "li-na")
    call, finish = page.locator("#call-staff").bounding_box(), page.locator("#finish").bounding_box()
    assert call and finish and finish["x"] - (call["x"] + call["width"]) >= 24
