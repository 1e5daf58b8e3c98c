"""The first screen: what a card holder most likely came for, from the seed's likely bands.

An elderly resident may apply for over thirty items; the kiosk shows six first. The expected lists are
worked by hand from the seed's ``likely`` bands and ``likely_rank`` (docs/catalogue.md, "Likely needs"):
20–44 birth 1, employment 2, residence registration 3 and residence permit 4 (other households),
social-security card 5–7; 45–64 unemployment 1, flexible work 2, residents' pension 3, residents' medical
insurance 4, unemployment benefit 5; 65+ allowance 1, 敬老卡 2, meals 3, home care 4, care assessment 5,
medical aid 6, 敬老卡挂失 7. Items the holder may not apply for never appear.
"""

from __future__ import annotations

from datetime import date

import pytest

from protocol.catalogue import load_seed
from protocol.eligibility import Attributes, Eligibility, always
from protocol.likely import FIRST_SCREEN, rank
from protocol.residence import CommitteeArea
from tests.support import check_character

TODAY = date(2026, 3, 2)
E, C = Eligibility.ELIGIBLE, Eligibility.NEEDS_CHECK
WEIFANG = CommitteeArea.model_validate({"district": "浦东新区", "streets": [{"street": "潍坊路", "lanes": "1-200"}]})


def holder(region: str, born: date, seq: str, address: str | None = None) -> Attributes:
    body = f"{region}{born:%Y%m%d}{seq}"
    return Attributes.from_card(today=TODAY, id_number=body + check_character(body), address=address, area=WEIFANG)


@pytest.fixture(scope="module")
def seed():
    return load_seed()


def first(seed, attrs) -> list[tuple[str, Eligibility]]:
    return [(iv.item.name, iv.status) for iv in rank(seed, attrs).first()]


def test_an_elderly_resident_sees_the_six_elderly_services_first(seed):
    man_72 = holder("310101", date(1953, 7, 1), "031")  # Shanghai household, address unknown here
    assert first(seed, man_72) == [
        ("老年综合津贴申领", E),
        ("敬老卡申领", E),
        ("社区老年助餐服务登记", C),  # does he live here? the card has no address in this test
        ("居家养老服务补贴申请", C),
        ("老年照护统一需求评估申请", C),
        ("医疗救助申请", C),
    ]  # 敬老卡挂失 (rank 7) waits behind 全部业务
    ranked = rank(seed, man_72)
    assert len(ranked.likely) == 7 and len(ranked.likely) + len(ranked.others) > 30


def test_living_in_the_area_makes_the_meal_service_eligible_on_the_first_screen(seed):
    woman_81 = holder("310115", date(1944, 12, 24), "042", address="上海市浦东新区潍坊路88弄5号")
    assert first(seed, woman_81)[2] == ("社区老年助餐服务登记", E)


def test_a_young_shanghai_woman_sees_birth_work_and_the_card(seed):
    woman_34 = holder("310104", date(1991, 11, 26), "026")
    # 居住登记 and 居住证 are likely for other households only: five likely items, nothing else added.
    assert first(seed, woman_34) == [
        ("生育登记", E),
        ("就业登记", E),
        ("社会保障卡申领", E),
        ("社会保障卡挂失", E),
        ("社会保障卡补换", E),
    ]


def test_a_young_man_from_another_province_sees_residence_too(seed):
    man_29 = holder("540102", date(1996, 10, 20), "111")
    assert first(seed, man_29) == [
        ("生育登记", E),
        ("就业登记", E),
        ("居住登记", E),
        ("居住证申领", C),  # registered here for six months?
        ("社会保障卡申领", E),
        ("社会保障卡挂失", E),
    ]  # 社会保障卡补换 (rank 7) is the seventh


def test_a_man_of_52_sees_unemployment_work_and_insurance(seed):
    man_52 = holder("320508", date(1973, 11, 5), "471")  # Suzhou household
    # 城乡居民养老保险参保 (rank 3) needs a Shanghai household: not listed.
    assert first(seed, man_52) == [
        ("失业登记", C),
        ("灵活就业登记", E),
        ("城乡居民基本医疗保险参保登记", C),
        ("失业保险金申领", C),
    ]


def test_with_nothing_likely_the_first_screen_is_what_one_may_apply_for_eligible_first(seed):
    boy_16 = holder("310112", date(2009, 11, 20), "551")
    assert rank(seed, boy_16).likely == ()
    assert first(seed, boy_16) == [
        ("临时救助申请", E),
        ("就业登记", E),
        ("灵活就业登记", E),
        ("社会保障卡挂失", E),
        ("社会保险个人缴费记录打印", E),
        ("社会保障卡申领", E),
    ]


def test_equal_ranks_put_eligible_before_needs_check_then_catalogue_order(seed):
    # Three items made likely for everyone at the same rank: 异地就医备案 (YB-003, needs a check) comes
    # after 居住登记 and 婚姻登记档案查询 (eligible), though it stands before them in the catalogue.
    everyone = always()
    items = [
        item.model_copy(update={"likely": everyone, "likely_rank": 1})
        if item.code in ("YB-003", "GA-001", "DA-001")
        else item.model_copy(update={"likely": None, "likely_rank": 0})
        for item in seed.items
    ]
    catalogue = seed.model_copy(update={"items": items})
    attrs = holder("310104", date(1991, 11, 26), "026")
    assert [iv.item.code for iv in rank(catalogue, attrs).likely] == ["GA-001", "DA-001", "YB-003"]


def test_the_first_screen_is_short(seed):
    assert FIRST_SCREEN == 6
    for attrs in (holder("310101", date(1931, 2, 14), "027"), holder("310104", date(1991, 11, 26), "026")):
        assert len(rank(seed, attrs).first()) <= FIRST_SCREEN
