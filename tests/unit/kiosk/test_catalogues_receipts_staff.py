"""Message catalogues, receipts and staff PINs.

Every key a template or the code uses exists in Chinese and English; a receipt shows masked facts and a
QR payload the kiosk can read back; staff PINs are scrypt hashes and repeated failures lock login.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest

from edge.devices.escpos_decode import EscPosDecoder, QrCode, TextLine
from edge.kiosk.directory import Directory
from edge.kiosk.i18n import catalogue, translator
from edge.kiosk.receipts import CaseReceipt, case_receipt, mask_name, parse_progress_code, progress_payload
from edge.kiosk.staff import StaffDirectory, StaffLocked, hash_pin, verify_pin
from edge.settings import EdgeSettings, KioskSettings
from protocol.catalogue import load_seed
from protocol.workdays import load_seed_calendar

KIOSK = Path(__file__).resolve().parents[3] / "edge" / "kiosk"


def test_chinese_and_english_catalogues_have_the_same_keys():
    assert set(catalogue("zh")) == set(catalogue("en"))


def test_every_literal_key_in_templates_and_code_is_in_the_catalogues():
    used: set[str] = set()
    for path in [*KIOSK.glob("templates/*.html"), *KIOSK.glob("**/*.py")]:
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_]+\.[a-z_.]+)['"]\s*[,)]""", path.read_text()))
    assert len(used) > 100
    assert used - set(catalogue("zh")) == set()


def test_keys_made_at_run_time_are_in_the_catalogues():
    from protocol.cases import CaseStatus
    from protocol.catalogue import ItemClass
    from protocol.eligibility import Eligibility
    from protocol.ratings import RatingLevel

    made = (
        [f"status.{e.value}" for e in Eligibility]
        + [f"services.group_{e.value}" for e in Eligibility]
        + [f"case.{s.value}" for s in CaseStatus]
        + [f"class.{c.value}" for c in ItemClass]
        + [f"rate.{level.name.lower()}" for level in RatingLevel]
        + [f"welcome.ended_{r}" for r in ("finish", "timeout", "session")]
        + [f"sex.{s}" for s in "MFU"]
        + [f"print.{c}" for c in ("ok", "paper_out", "cover_open", "printer_error", "printer_offline")]
        + ["notice.card.card_refused", "notice.card.read_failed", "notice.scan.unknown"]
    )
    assert [k for k in made if k not in catalogue("zh")] == []


def test_translator_formats_and_falls_back_to_chinese():
    assert translator("en")("item.promised_days", days=3) == "3 working days"
    assert translator("xx").lang == "zh"
    assert translator("zh")("no.such.key") == "no.such.key"


def test_progress_payload_round_trips_and_rejects_other_codes():
    payload = progress_payload("https://hub.example/progress", "JW001-20260302-0007", "7F3A9C")
    assert parse_progress_code(payload) == ("JW001-20260302-0007", "7F3A9C")
    assert parse_progress_code("https://hub.example/progress?r=310101199001011234&c=7F3A9C") is None
    assert parse_progress_code("hello") is None
    # A receipt printed in English opens the portal in English (it opened in Chinese: a channels review).
    english = progress_payload("https://hub.example/progress", "JW001-20260302-0007", "7F3A9C", "en")
    assert english == "https://hub.example/progress?r=JW001-20260302-0007&c=7F3A9C&lang=en"
    assert parse_progress_code(english) == ("JW001-20260302-0007", "7F3A9C")


def test_mask_name_keeps_only_the_first_character():
    assert [mask_name(n) for n in ("张伟", "欧阳娜娜", "", "李")] == ["张*", "欧***", "", "李"]


def test_a_case_receipt_decodes_to_masked_text_and_the_progress_qr():
    r = CaseReceipt(
        case_id="c",
        receipt_no="JW001-20260302-0007",
        query_code="7F3A9C",
        item_code="YB-007",
        item_name="医疗保险缴费凭证打印",
        masked_name="张*",
        masked_id="310101********3176",
        accepted_at=datetime(2026, 3, 2, 9, 30),
        due=date(2026, 3, 2),
        promised_days=0,
        agent="demo",
        progress="https://hub.example/progress?r=JW001-20260302-0007&c=7F3A9C",
        done_on_spot=True,
    )
    items = EscPosDecoder().feed(case_receipt(translator("zh"), r, "示例居委会").to_bytes())
    lines = [i.text for i in items if isinstance(i, TextLine) and i.text.strip()]
    assert lines[:3] == ["示例居委会", "业务受理回执", "事项：医疗保险缴费凭证打印"]
    assert "证件号码：310101********3176" in lines and "代办人：demo" in lines and "办结时限：当场办结" in lines
    assert [i.data for i in items if isinstance(i, QrCode)] == [r.progress]


def test_an_immediate_item_with_a_back_office_step_says_so_on_the_receipt():
    """就业登记 is entered into the department's system by staff the same day: the receipt must not say
    当场办结 (issue 11, item 2)."""
    r = CaseReceipt(
        case_id="c",
        receipt_no="JW001-20260302-0008",
        query_code="7F3A9D",
        item_code="RS-001",
        item_name="就业登记",
        masked_name="张*",
        masked_id="310101********3176",
        accepted_at=datetime(2026, 3, 2, 9, 30),
        due=date(2026, 3, 2),
        promised_days=0,
        agent=None,
        progress="https://hub.example/progress?r=JW001-20260302-0008&c=7F3A9D",
    )
    items = EscPosDecoder().feed(case_receipt(translator("zh"), r, "示例居委会").to_bytes())
    lines = [i.text for i in items if isinstance(i, TextLine) and i.text.strip()]
    assert "办结时限：2026-03-02 当个工作日办结（需工作人员后台办理）" in lines
    assert not any("当场办结" in line for line in lines)


def test_a_date_in_a_year_without_announced_holidays_is_printed_as_moving_past_them():
    """28 December 2026 + 5 working days, before the 2027 arrangement is known: Monday 4 January 2027
    (元旦 may move it), and the paper says so; a date in a covered year carries no such line."""
    seed = Directory(load_seed(), load_seed_calendar())
    due = seed.due_date(load_seed().item("RS-008"), date(2026, 12, 28))
    assert due == date(2027, 1, 4) and seed.tentative(due) and not seed.tentative(date(2026, 12, 31))

    def printed(due: date, tentative: bool) -> list[str]:
        r = CaseReceipt(
            case_id="c",
            receipt_no="JW001-20261228-0001",
            query_code="7F3A9E",
            item_code="RS-008",
            item_name="失业保险金申领",
            masked_name="张*",
            masked_id="310101********3176",
            accepted_at=datetime(2026, 12, 28, 9, 30),
            due=due,
            promised_days=5,
            agent=None,
            progress="https://hub.example/progress?r=JW001-20261228-0001&c=7F3A9E",
            tentative=tentative,
        )
        items = EscPosDecoder().feed(case_receipt(translator("zh"), r, "示例居委会").to_bytes())
        return [i.text for i in items if isinstance(i, TextLine) and i.text.strip()]

    lines = printed(due, True)
    assert "承诺办结：2027-01-04 前（5 个工作日）" in lines
    assert "（2027 年节假日安排未公布，遇法定节假日顺延）" in lines
    assert not any("顺延" in line for line in printed(date(2026, 12, 31), False))


def test_pins_are_salted_scrypt_and_verify_only_the_right_pin():
    a, b = hash_pin("246810"), hash_pin("246810")
    assert a != b and a.startswith("scrypt$") and "246810" not in a
    assert verify_pin("246810", a) and not verify_pin("246811", a) and not verify_pin("246810", "bogus")


def test_staff_login_locks_after_repeated_failures_then_opens_again():
    now = [0.0]
    staff = StaffDirectory(f"sg01:{hash_pin('246810')}", max_failures=3, lockout_s=30, clock=lambda: now[0])
    assert "sg01" in staff and staff.enabled and staff.login("sg01", "246810")
    for _ in range(3):
        assert not staff.login("sg01", "111111")
    with pytest.raises(StaffLocked):
        staff.login("sg01", "246810")
    now[0] += 31
    assert staff.login("sg01", "246810")
    assert not staff.login("nobody", "246810")


def test_no_pin_ships_so_staff_mode_is_off_until_pins_are_provisioned():
    """The old built-in entry (demo / 246810) and any other guess are refused: there is no entry at all."""
    for config in (KioskSettings(), EdgeSettings().kiosk):
        staff = StaffDirectory(config.staff_pins)
        assert not staff.enabled and "demo" not in staff
        assert not staff.login("demo", "246810") and not staff.login("", "")


def test_bad_staff_entries_are_refused():
    with pytest.raises(ValueError):
        StaffDirectory("demo:plaintext")


def test_config_reads_the_terminal_settings_which_read_the_environment(monkeypatch, tmp_path):
    from edge.settings import load

    monkeypatch.setenv("SHEGONG_KIOSK_IDLE_TIMEOUT_S", "30")
    monkeypatch.setenv("SHEGONG_KIOSK_WARN_BEFORE_S", "10")
    monkeypatch.setenv("SHEGONG_COMMITTEE_NAME", "测试居委会")
    settings = load(data_dir=tmp_path, kiosk={"port": 9000})
    config = settings.kiosk
    assert (config.port, config.idle_timeout_s, config.warn_before_s) == (9000, 30.0, 10.0)
    assert settings.committee_name == "测试居委会" and config.host == "127.0.0.1"
    with pytest.raises(ValueError):
        KioskSettings(idle_timeout_s=10, warn_before_s=20)
    # the shipped timings: two minutes without a touch, warned half a minute before (accessibility review)
    assert (KioskSettings().idle_timeout_s, KioskSettings().warn_before_s) == (120.0, 30.0)
    with pytest.raises(ValueError, match="kiosk_port is now \\[kiosk\\] port"):
        load(data_dir=tmp_path, kiosk_port=9000)  # an old flat key is refused by name, not ignored
    monkeypatch.setenv("SHEGONG_READER_PORT", "/dev/ttyUSB0")
    with pytest.raises(ValueError, match="SHEGONG_READER_PORT is now SHEGONG_DEVICES_READER"):
        load(data_dir=tmp_path)
