"""The social-security card record of ``iReadCardBas``: eleven pipe-separated fields in GB18030.

``区划码|社会保障号码|卡号|卡识别码|姓名|复位信息|规范版本|发卡日期|有效期|终端机编号|终端设备号|`` decodes
(GBK bytes included) into the holder's facts: the social security number is the ID number, from which
sex and birth date come; a record with a number that fails its check is refused.
"""

from __future__ import annotations

from datetime import date

import pytest

from edge.devices.errors import CardRefused
from edge.devices.sim.identities import BAD_CHECK_DIGIT, identity
from edge.devices.sim.sscard import record_for
from edge.devices.sscard import facts_from_record, parse_record


def test_a_record_in_gbk_bytes_gives_the_holders_facts() -> None:
    person = identity("jin-meiyu")
    raw = record_for(person).encode("gbk") + b"\0garbage after the terminator"
    record = parse_record(raw)
    assert (record.region, record.ss_number, record.name) == ("222400", person.id_number, "金美玉")
    facts = facts_from_record(record)
    assert (facts.card_type, facts.id_number, facts.name, facts.sex) == ("sscard", person.id_number, "金美玉", "F")
    assert facts.birth_date == person.birth_date
    assert facts.valid_from == person.valid_from and facts.valid_to is not None
    assert (facts.nation, facts.address, facts.issuer) == (None, None, None)


def test_the_documented_field_order_is_kept() -> None:
    # 310101195409273176 is valid: its check character is worked by hand in test_id_numbers_on_cards.
    raw = "310000|310101195409273176|A19540927|310000D15600000509273176|张伟|3B6C|3.00|20200101|20300101|T1|D1|"
    record = parse_record(raw.encode("gb18030"))
    assert (record.card_number, record.card_id, record.atr, record.version) == (
        "A19540927",
        "310000D15600000509273176",
        "3B6C",
        "3.00",
    )
    assert (record.issued, record.expires, record.terminal, record.device) == ("20200101", "20300101", "T1", "D1")
    assert facts_from_record(record).valid_to == date(2030, 1, 1)


def test_the_record_repr_masks_the_number() -> None:
    record = parse_record(record_for(identity("zhang-wei")).encode("gb18030"))
    assert identity("zhang-wei").id_number not in repr(record)


@pytest.mark.parametrize("raw", [b"310000|only|three", b"\xff\xfe\xfd|" * 11])
def test_a_short_or_undecodable_record_is_an_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_record(raw)


def test_a_number_failing_its_check_is_refused() -> None:
    record = parse_record(record_for(identity(BAD_CHECK_DIGIT)).encode("gb18030"))
    with pytest.raises(CardRefused, match="校验码不符"):
        facts_from_record(record)


def test_unreadable_dates_are_left_out_not_refused() -> None:
    raw = record_for(identity("li-na")).replace("|3.00|", "|3.00|????????|").encode("gb18030")
    facts = facts_from_record(parse_record(raw))
    assert facts.valid_from is None and facts.id_number == identity("li-na").id_number
