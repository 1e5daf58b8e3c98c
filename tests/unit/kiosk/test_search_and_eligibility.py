"""The catalogue as the kiosk shows it: pinyin search and each test identity's services.

The table below is the seed catalogue's kiosk items (immediate, at the committee) for every simulator
identity: E eligible, ? needs a staff check, - not eligible. It reads like the rules, worked by hand from
each person's age, sex and household (docs/catalogue.md):

- 敬老卡挂失 (MZ-003): Shanghai household and 65 or over.
- 助餐 (MZ-004): 60 or over and living here; with no committee area set, living here is a staff check (?).
- 就业/失业/灵活就业登记 (RS-001..003), 工会入会 (GH-001): 16 to the statutory retirement age. The men of
  65, 68 and 72 are past 63, the most any man's age can be; the women of 60, 81 and 95 past 58, the most
  any woman's can be: not eligible, no staff check. Those below 50 (women) or 60 (men) have not reached
  it. 失业登记 and 入会 still ask staff whether the holder is out of work.
- 生育登记 (WJ-001): men 22 to 55, women 20 to 55: nobody over 55, and not 刘洋 at 16.
- 居住登记 (GA-001): anyone; 居住证挂失 (GA-004) other households holding a permit (?).
- 退役军人信息采集 (TY-001): Shanghai household, and staff check the service.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from edge.devices.sim.identities import all_identities
from edge.kiosk.directory import Directory, Match, search_keys
from protocol.catalogue import load_seed
from protocol.eligibility import Attributes, Eligibility
from protocol.workdays import load_seed_calendar

CODES = "MZ-003 MZ-004 RS-001 RS-002 RS-003 RS-004 RS-005 YB-003 YB-007 WJ-001 GA-001 GA-004 DA-001 GH-001 TY-001"
TABLE = """
zhang-wei     E ? - - - E E ? E - E - E - ?
wang-xiuying  E ? - - - E E ? E - E - E - ?
chen-jianguo  E ? - - - E E ? E - E - E - ?
li-na         - - E ? E E E ? E E E - E ? ?
liu-yang      - - E ? E E E ? E - E - E ? ?
zhou-guilan   E ? - - - E E ? E - E - E - ?
sun-zhiming   E ? - - - E E ? E - E - E - ?
ma-li         - - E ? E E E ? E E E ? E ? -
zhaxi-ciren   - - E ? E E E ? E E E ? E ? -
jin-meiyu     - ? - - - E E ? E - E ? E - -
ayiguli       - - E ? E E E ? E E E ? E ? -
huang-jun     - - E ? E E E ? E E E ? E ? -
"""
MARK = {"E": Eligibility.ELIGIBLE, "?": Eligibility.NEEDS_CHECK, "-": Eligibility.NOT_ELIGIBLE}


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory(load_seed(), load_seed_calendar())


def test_the_kiosk_items_are_the_immediate_committee_items(directory):
    assert [i.code for i in directory.catalogue.items if i.accepted_at_kiosk] == CODES.split()


@pytest.mark.parametrize("row", TABLE.strip().splitlines(), ids=lambda r: r.split()[0])
def test_each_test_identity_sees_the_kiosk_items_the_rules_give(directory, row):
    key, *marks = row.split()
    person = next(p for p in all_identities() if p.key == key)
    attrs = Attributes.from_card(today=date.today(), id_number=person.id_number)
    got = {code: directory.verdict(attrs, code).status for code in CODES.split()}
    assert got == {code: MARK[m] for code, m in zip(CODES.split(), marks, strict=True)}


def test_groups_list_eligible_then_needs_check_by_department_and_are_cached(directory):
    person = all_identities()[0]
    attrs = Attributes.from_card(today=date.today(), id_number=person.id_number)
    groups = directory.groups(attrs)
    assert [g.status for g in groups] == list(Eligibility)
    assert directory.groups(Attributes.from_card(today=date.today(), id_number=person.id_number)) is groups
    order = [d.code for d in directory.catalogue.departments]
    seen: list[str] = []
    for g in groups:
        codes = [d.department.code for d in g.departments]
        assert codes == sorted(codes, key=order.index)
        for dept in g.departments:
            assert dept.items, "no empty departments"
            for entry in dept.items:
                # The worded verdict's status: the second way to the same answer.
                assert entry.item.evaluate(attrs).status is g.status is entry.status
                assert entry.item.department == dept.department.code
                seen.append(entry.item.code)
    assert sorted(seen) == sorted(item.code for item in directory.catalogue.items), "every item once"
    assert sum(g.count for g in groups) == len(directory.catalogue.items)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("lnjt", "老年综合津贴申领"),
        ("LNJT", "老年综合津贴申领"),
        ("老年津贴", "老年综合津贴申领"),
        ("jlk", "敬老卡申领"),
        ("敬老卡", "敬老卡申领"),
        ("sbk", "社会保障卡挂失"),
        ("jiuye", "就业登记"),
        ("allowance", "老年综合津贴申领"),
        ("shiyedengji", "失业登记"),
    ],
)
def test_search_finds_by_chinese_pinyin_initials_and_english(directory, query, first):
    assert directory.search(query)[0].name == first


# Each expected list is worked by hand from the names' pinyin initials (and the seed's keywords), tier by
# tier, catalogue order within a tier.
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # 重残无业人员补助申请 zcwyrybzsq starts with zc; 社区老年助餐服务登记 sqlnzcfwdj has it inside. 知青档案查询
        # (zqdacx) and 敬老卡申领 ("senior citizen card") only have a z and a later c: not matches.
        ("zc", [("重残无业人员补助申请", Match.INITIALS_PREFIX), ("社区老年助餐服务登记", Match.INITIALS)]),
        # 就业登记 jydj, 就业困难人员认定 jyknryrd; inside: 居家养老… jjyl…, 灵活就业登记 lhjydj, 异地就医备案 ydjyba.
        (
            "jy",
            [
                ("就业登记", Match.INITIALS_PREFIX),
                ("就业困难人员认定", Match.INITIALS_PREFIX),
                ("居家养老服务补贴申请", Match.INITIALS),
                ("灵活就业登记", Match.INITIALS),
                ("异地就医备案", Match.INITIALS),
            ],
        ),
        # The keyword 社保卡 (sbk) of the three card items; nothing else has s-b-k together.
        (
            "sbk",
            [
                ("社会保障卡挂失", Match.INITIALS_PREFIX),
                ("社会保障卡申领", Match.INITIALS_PREFIX),
                ("社会保障卡补换", Match.INITIALS_PREFIX),
            ],
        ),
        # 医疗保险缴费凭证打印 ylbx…; 城乡居民基本养老/医疗保险参保登记 cxjmjb ylbx cbdj.
        (
            "ylbx",
            [
                ("医疗保险缴费凭证打印", Match.INITIALS_PREFIX),
                ("城乡居民基本养老保险参保登记", Match.INITIALS),
                ("城乡居民基本医疗保险参保登记", Match.INITIALS),
            ],
        ),
        ("lnjt", [("老年综合津贴申领", Match.INITIALS_PREFIX)]),  # by its keyword 老年津贴, not lnzhjtsl
        ("gzf", [("公共租赁住房申请", Match.INITIALS_PREFIX)]),  # keyword 公租房
        ("jiuye", [("就业登记", Match.NAME), ("灵活就业登记", Match.NAME), ("就业困难人员认定", Match.NAME)]),
    ],
)
def test_search_ranks_initials_prefix_then_initials_then_names(directory, query, expected):
    assert [(h.item.name, h.match) for h in directory.hits(query)] == expected


def test_letters_spread_across_a_name_are_no_match(directory):
    # zqdacx holds z … c, and the old subsequence search listed 知青档案查询 for "zc": a resident typing 助餐's
    # initials saw archives. Only initials in a row count now.
    assert "知青档案查询" not in [i.name for i in directory.search("zc")]
    assert directory.search("zqc") == [] and directory.search("lnjtsl") == []


def test_search_with_nothing_to_find_or_nothing_typed(directory):
    assert directory.search("zzzz") == []
    assert len(directory.search("  ")) == 50
    kiosk_only = [i for i in directory.catalogue.items if i.accepted_at_kiosk]
    assert all(i.accepted_at_kiosk for i in directory.search("dj", among=kiosk_only))


def test_search_keys_are_chinese_pinyin_and_initials():
    assert search_keys("老年综合津贴申领")[:3] == ("老年综合津贴申领", "laonianzonghejintieshenling", "lnzhjtsl")
    assert "zhigonghuzhubaozhangjifushenqing" in search_keys("职工互助保障给付申请")


def test_due_dates_count_working_days_and_visits_avoid_closed_days(directory):
    item = directory.item("MZ-001")  # 15 working days
    assert directory.due_date(item, date(2026, 9, 28)) == date(2026, 10, 23)  # 国庆 off, 10 Oct (Saturday) worked
    # a same-day item on the 劳动节 holiday (1–5 May) falls on the first working day after it, Wednesday 6 May
    assert directory.due_date(directory.item("MZ-003"), date(2026, 5, 2)) == date(2026, 5, 6)
    assert directory.due_date(directory.item("MZ-003"), date(2026, 4, 29)) == date(2026, 4, 29)
    assert directory.suggested_visit(datetime(2026, 4, 30, 16, 0)) == date(2026, 5, 6)  # after 劳动节
    assert directory.suggested_visit(datetime(2026, 4, 29, 9, 0)) == date(2026, 4, 29)
