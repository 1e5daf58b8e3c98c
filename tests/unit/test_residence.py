"""Does a card's address lie in the committee's area? Addresses read by hand, areas set as a committee would.

The address on an ID card is the household registration address; the card can confirm that someone lives
in the committee's area, never that they do not. These tests read addresses as printed on cards (the
parts written out by hand beside each), check areas of whole streets and of lane ranges, and the two
cases from the issue's walk-through: a Chongming address at a Pudong committee is a staff check, and
潍坊路88弄5号 at a committee whose area has 潍坊路 1–200 lives here.
"""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from protocol.catalogue import load_seed
from protocol.eligibility import Attributes, Eligibility
from protocol.residence import Address, CommitteeArea, canonical_district, parse_address
from tests.support import check_character

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("上海市浦东新区潍坊路88弄5号", Address("浦东新区", "潍坊路", 88, 5)),
        # The subdistrict (…街道) sits between district and street; 南京东路 is its name, not the street.
        ("上海市黄浦区南京东路街道福州路318号", Address("黄浦区", "福州路", None, 318)),
        ("上海市崇明区城桥镇八一路120号", Address("崇明区", "八一路", None, 120)),  # a town (…镇)
        ("上海市徐汇区天平路街道衡山路26弄3号", Address("徐汇区", "衡山路", 26, 3)),
        ("上海市浦东新区潍坊新村街道潍坊路88弄5号402室", Address("浦东新区", "潍坊路", 88, 5)),  # a flat number
        ("上海市长宁区华阳路街道镇宁路405弄1支弄12号", Address("长宁区", "镇宁路", 405, 12)),  # branch lane
        ("上海市卢湾区淮海中路１２３弄４号", Address("黄浦区", "淮海中路", 123, 4)),  # old card: 卢湾 is 黄浦 now
        ("上海市崇明县城桥镇八一路120号", Address("崇明区", "八一路", None, 120)),  # 崇明县 became 崇明区 in 2016
        ("上海市杨浦区市光路100号", Address("杨浦区", "市光路", None, 100)),  # 市 in a street name is no city
        ("浦东新区潍坊路 88 弄 5 号", Address("浦东新区", "潍坊路", 88, 5)),  # no city, spaces
        ("江苏省苏州市姑苏区人民路1408号", Address(None, "人民路", None, 1408)),  # not a Shanghai district
        ("吉林省延吉市河南街道光明街187号", Address(None, "光明街", None, 187)),
    ],
)
def test_addresses_are_read_into_district_street_lane_and_number(text, expected):
    assert parse_address(text) == expected


def test_district_names_in_settings_read_in_their_usual_forms():
    assert canonical_district("浦东新区") == canonical_district("浦东") == canonical_district("南汇区") == "浦东新区"
    assert canonical_district("上海市黄浦区") == canonical_district("卢湾区") == "黄浦区"
    assert canonical_district("姑苏区") is None


WEIFANG = CommitteeArea.model_validate(
    {
        "district": "浦东新区",
        "streets": [
            {"street": "潍坊路", "lanes": "1-200"},
            {"street": "崂山路", "lanes": "1-199单"},  # the odd side only
            {"street": "南泉北路"},  # the whole street
        ],
    }
)


@pytest.mark.parametrize(
    ("address", "covered"),
    [
        ("上海市浦东新区潍坊路88弄5号", True),  # 88 is in 1–200
        ("上海市浦东新区潍坊路120号", True),  # a house on the street: its 号 is on the same numbering
        ("上海市浦东新区潍坊路201弄3号", False),  # 201 is past 200
        ("上海市浦东新区潍坊路", False),  # no number: cannot tell which stretch
        ("上海市浦东新区崂山路77号", True),  # odd
        ("上海市浦东新区崂山路78号", False),  # even: the other side, another committee
        ("上海市浦东新区南泉北路1029弄6号", True),
        ("上海市崇明区城桥镇潍坊路88弄5号", False),  # same street name, another district
        ("上海市浦东新区东方路800号", False),  # another street
        ("上海市崇明区城桥镇八一路120号", False),
        ("江苏省苏州市姑苏区潍坊路88号", False),
        ("", False),
        (None, False),  # a social-security card has no address
    ],
)
def test_an_area_covers_its_streets_and_number_ranges(address, covered):
    assert WEIFANG.covers(address) is covered


@pytest.mark.parametrize(
    ("area", "message"),
    [
        ({"district": "姑苏区", "streets": [{"street": "人民路"}]}, "not a Shanghai district"),
        ({"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "200-1"}]}, "runs backwards"),
        ({"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "一到二百"}]}, "not a number range"),
        ({"district": "浦东新区", "streets": []}, "at least 1"),
        ({"district": "浦东新区", "streets": [{"street": "潍坊路", "lane": "1-200"}]}, "Extra inputs"),
    ],
)
def test_an_unreadable_area_is_refused_with_the_reason(area, message):
    with pytest.raises(ValidationError, match=message):
        CommitteeArea.model_validate(area)


def test_ranges_may_be_listed_with_chinese_separators():
    area = CommitteeArea.model_validate(
        {"district": "浦东", "streets": [{"street": "潍坊路", "lanes": "1-20，88、100至120弄"}]}
    )
    assert [area.covers(f"上海市浦东新区潍坊路{n}弄1号") for n in (20, 21, 88, 99, 100, 120, 121)] == [
        True,
        False,
        True,
        False,
        True,
        True,
        False,
    ]


# -- the card's facts and the seed's 助餐 (MZ-004: 60 or over, living here) -------------------------------


def _elder(region: str) -> str:
    body = f"{region}19550610022"  # born 1955-06-10: 70 on TODAY
    return body + check_character(body)


def _meal_service(address: str | None, area: CommitteeArea | None) -> tuple[bool | None, Eligibility]:
    attrs = Attributes.from_card(today=TODAY, id_number=_elder("310115"), address=address, area=area)
    return attrs.get("lives_here"), load_seed().item("MZ-004").evaluate(attrs).status  # type: ignore[return-value]


def test_a_card_address_in_the_area_shows_the_holder_lives_here():
    assert _meal_service("上海市浦东新区潍坊路88弄5号", WEIFANG) == (True, Eligibility.ELIGIBLE)


def test_a_chongming_address_at_a_pudong_committee_is_a_staff_check_not_a_pass():
    lives_here, status = _meal_service("上海市崇明区城桥镇八一路120号", WEIFANG)
    assert (lives_here, status) == (None, Eligibility.NEEDS_CHECK)
    chongming = "上海市崇明区城桥镇八一路120号"
    attrs = Attributes.from_card(today=TODAY, id_number=_elder("310151"), address=chongming, area=WEIFANG)
    verdict = load_seed().item("MZ-004").evaluate(attrs)
    assert verdict.to_check == ("lives_here",) and "是否居住在本社区" in verdict.reason


def test_without_an_area_or_an_address_living_here_is_never_assumed():
    assert _meal_service("上海市浦东新区潍坊路88弄5号", None) == (None, Eligibility.NEEDS_CHECK)
    assert _meal_service(None, WEIFANG) == (None, Eligibility.NEEDS_CHECK)
