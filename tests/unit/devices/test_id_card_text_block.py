"""The ID card's 256-byte text block: UTF-16LE fields at fixed offsets, turned into the holder's facts.

A block laid out by hand at the reference's offsets must decode to its fields, and the encoder the
simulator uses must lay out those fields byte for byte the same; the sex and nation codes
map through GB/T 2261.1 and GB 3304; a card whose number fails its check, or whose birth date differs
from the number's, is refused with a Chinese message that never contains the number.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from edge.devices.codes import NATIONS, nation_name, sex_letter
from edge.devices.errors import CardRefused
from edge.devices.idtext import LAYOUT, IdText, decode_text_block, encode_text_block, facts_from_text
from edge.devices.sim.identities import BAD_CHECK_DIGIT, all_identities, identity

#: Pudong, born 1945. Check character by hand: 3·7 + 1·9 + 0·10 + 1·5 + 1·8 + 5·4 + 1·2 + 9·1 + 4·6 + 5·3
#: + 0·7 + 1·9 + 1·10 + 6·5 + 4·8 + 2·4 + 6·2 = 214; 214 mod 11 = 5; "10X98765432"[5] = "7".
NUMBER = "310115194501164267"


def hand_made_block() -> bytes:
    block = bytearray(b" \x00" * 128)

    def put(offset: int, text: str) -> None:
        raw = text.encode("utf-16-le")
        block[offset : offset + len(raw)] = raw

    put(0, "王秀英")
    put(30, "2")
    put(32, "01")
    put(36, "19450116")
    put(52, "上海市浦东新区潍坊路88弄5号")
    put(122, NUMBER)
    put(158, "上海市公安局浦东分局")
    put(188, "20150301")
    put(204, "长期")
    return bytes(block)


def test_a_hand_laid_block_decodes_to_its_fields() -> None:
    text = decode_text_block(hand_made_block())
    assert text == IdText(
        name="王秀英",
        sex="2",
        nation="01",
        birth="19450116",
        address="上海市浦东新区潍坊路88弄5号",
        id_number=NUMBER,
        issuer="上海市公安局浦东分局",
        valid_from="20150301",
        valid_to="长期",
    )


def test_the_encoder_lays_out_the_block_as_the_reference_does() -> None:
    text = IdText(
        name="王秀英",
        sex="2",
        nation="01",
        birth="19450116",
        address="上海市浦东新区潍坊路88弄5号",
        id_number=NUMBER,
        issuer="上海市公安局浦东分局",
        valid_from="20150301",
        valid_to="长期",
    )
    assert encode_text_block(text) == hand_made_block()


def test_a_hand_laid_block_gives_the_holders_facts() -> None:
    facts = facts_from_text(decode_text_block(hand_made_block()))
    assert (facts.card_type, facts.id_number, facts.name, facts.sex) == ("id_card", NUMBER, "王秀英", "F")
    assert (facts.nation, facts.birth_date, facts.valid_from, facts.valid_to) == (
        "汉",
        date(1945, 1, 16),
        date(2015, 3, 1),
        None,
    )
    assert facts.is_shanghai and facts.region_code == "310115"


def test_the_layout_fills_the_block_with_36_bytes_reserved_at_the_end() -> None:
    assert [(name, offset) for name, offset, _ in LAYOUT][-1] == ("valid_to", 204)
    assert sum(size for _, _, size in LAYOUT) == 256 - 36
    assert [f for f, _, _ in LAYOUT] == list(IdText.__dataclass_fields__)


@pytest.mark.parametrize("person", all_identities(), ids=lambda p: p.key)
def test_every_test_identity_round_trips_through_the_block(person) -> None:  # type: ignore[no-untyped-def]
    block = encode_text_block(person.id_text())
    assert len(block) == 256
    assert decode_text_block(block) == person.id_text()
    facts = facts_from_text(decode_text_block(block))
    assert (facts.id_number, facts.birth_date, facts.name) == (person.id_number, person.birth_date, person.name)


def test_a_field_too_long_for_its_place_is_not_encoded() -> None:
    with pytest.raises(ValueError, match="address"):
        encode_text_block(replace(identity("zhang-wei").id_text(), address="上" * 36))


def test_a_block_of_the_wrong_size_or_encoding_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError):
        decode_text_block(bytes(255))
    broken = bytearray(hand_made_block())
    broken[0:2] = b"\x00\xd8"  # a lone UTF-16 surrogate
    with pytest.raises(ValueError, match="UTF-16LE"):
        decode_text_block(bytes(broken))


def test_a_card_whose_number_fails_its_check_is_refused_in_chinese_without_the_number() -> None:
    bad = identity(BAD_CHECK_DIGIT)
    with pytest.raises(CardRefused) as caught:
        facts_from_text(bad.id_text())
    assert "校验码不符" in caught.value.message and "窗口" in caught.value.message
    assert bad.id_number not in str(caught.value) and bad.id_number[6:14] not in str(caught.value)
    assert caught.value.key  # lets a service tell the same refused card from a new one


def test_a_card_whose_birth_date_differs_from_its_number_is_refused() -> None:
    text = replace(identity("li-na").id_text(), birth="19900101")
    with pytest.raises(CardRefused, match="出生日期与号码不符"):
        facts_from_text(text)


def test_a_card_with_an_unreadable_date_is_refused() -> None:
    with pytest.raises(CardRefused, match="无法识别"):
        facts_from_text(replace(identity("li-na").id_text(), valid_from="2O24O101"))


def test_sex_codes_follow_gb_t_2261_and_fall_back_to_the_number() -> None:
    assert (sex_letter("1"), sex_letter("2"), sex_letter("0"), sex_letter("9")) == ("M", "F", None, None)
    person = identity("zhang-wei")
    assert facts_from_text(replace(person.id_text(), sex="9")).sex == "M"


def test_nation_codes_cover_gb_3304() -> None:
    assert len(NATIONS) == 58
    assert (nation_name("01"), nation_name("03"), nation_name("10"), nation_name("56")) == ("汉", "回", "朝鲜", "基诺")
    assert (nation_name("97"), nation_name("98"), nation_name("57"), nation_name("1")) == (
        "其他",
        "外国血统",
        None,
        "汉",
    )
