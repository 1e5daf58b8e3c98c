"""Statutory retirement age after the 2025 reform, checked against the decision's annex tables.

The expected values are rows of the three annex tables of 《全国人民代表大会常务委员会关于实施渐进式延迟法定
退休年龄的决定》 (2024-09-13): for each birth month, the reformed retirement age and the month one retires
in. The arithmetic beside each row is the rule the tables follow ("one month later every four months",
every two for women of the original age 50, counted from those who reach the old age in 2025-01), worked
by hand so a reader can check it without the code.
"""

from __future__ import annotations

from datetime import date

import pytest

from protocol.retirement import Category, RetirementAge, reached, retirement_age, retirement_day

MEN, W55, W50 = Category.MEN, Category.WOMEN_55, Category.WOMEN_50

# (category, born (year, month), age (years, months), retires in (year, month))
ANNEX = [
    # Annex 1, men: 60 → 63, one month per four birth months from 1965-01.
    (MEN, (1964, 12), (60, 0), (2024, 12)),  # before the first row: the old age
    (MEN, (1965, 1), (60, 1), (2025, 2)),  # row "1965年1月–1965年4月  60岁1个月  2025年2月–2025年5月"
    (MEN, (1965, 4), (60, 1), (2025, 5)),  # last month of that row: 1965-04 + 60y1m = 2025-05
    (MEN, (1965, 5), (60, 2), (2025, 7)),  # next row: 4 months on → 2 months later; 1965-05 + 60y2m
    (MEN, (1965, 12), (60, 3), (2026, 3)),  # 11 months after 1965-01: 11 // 4 + 1 = 3 months
    (MEN, (1970, 1), (61, 4), (2031, 5)),  # 60 months after: 60 // 4 + 1 = 16 months = 1y4m
    (MEN, (1976, 8), (62, 11), (2039, 7)),  # 139 months after: 139 // 4 + 1 = 35
    (MEN, (1976, 9), (63, 0), (2039, 9)),  # 140 // 4 + 1 = 36: the end of the table, "1976年9月以后 63岁"
    (MEN, (1990, 6), (63, 0), (2053, 6)),  # and 63 ever after
    # Annex 2, women of the original age 55 (cadres): 55 → 58, one month per four birth months from 1970-01.
    (W55, (1969, 12), (55, 0), (2024, 12)),
    (W55, (1970, 1), (55, 1), (2025, 2)),  # row "1970年1月–1970年4月  55岁1个月  2025年2月–2025年5月"
    (W55, (1973, 6), (55, 11), (2029, 5)),  # 41 months after 1970-01: 41 // 4 + 1 = 11
    (W55, (1981, 8), (57, 11), (2039, 7)),  # 139 // 4 + 1 = 35
    (W55, (1981, 9), (58, 0), (2039, 9)),  # 140 // 4 + 1 = 36: 58 from here
    # Annex 3, women of the original age 50 (workers): 50 → 55, one month per two birth months from 1975-01.
    (W50, (1974, 12), (50, 0), (2024, 12)),
    (W50, (1975, 1), (50, 1), (2025, 2)),  # row "1975年1月–1975年2月  50岁1个月  2025年2月–2025年3月"
    (W50, (1975, 2), (50, 1), (2025, 3)),
    (W50, (1975, 3), (50, 2), (2025, 5)),  # 2 // 2 + 1 = 2
    (W50, (1984, 10), (54, 11), (2039, 9)),  # 117 months after: 117 // 2 + 1 = 59
    (W50, (1984, 11), (55, 0), (2039, 11)),  # 118 // 2 + 1 = 60: "1984年11月出生的开始延迟到55周岁"
]


@pytest.mark.parametrize(("category", "born", "age", "retires"), ANNEX)
def test_retirement_age_and_month_follow_the_annex_tables(category, born, age, retires):
    birthday = date(*born, 10)
    assert retirement_age(birthday, category) == RetirementAge(*age)
    day = retirement_day(birthday, category)
    assert (day.year, day.month, day.day) == (*retires, 10)


def test_the_age_is_reached_on_the_birthday_that_many_years_and_months_on():
    born = date(1965, 1, 15)  # 60y1m: 2025-02-15
    assert reached(born, "M", date(2025, 2, 14)) is False
    assert reached(born, "M", date(2025, 2, 15)) is True


def test_a_birthday_the_month_lacks_falls_on_its_last_day():
    # 1965-01-31 + 60 years 1 month = 2025-02-31, which does not exist: 2025-02-28.
    assert retirement_day(date(1965, 1, 31), MEN) == date(2025, 2, 28)
    # 1976-09-30 + 63 years: 2039-09-30 exists.
    assert retirement_day(date(1976, 9, 30), MEN) == date(2039, 9, 30)


@pytest.mark.parametrize(
    ("born", "sex", "today", "expected"),
    [
        (date(1930, 5, 5), "F", date(2026, 3, 2), True),  # 95: past every schedule, no staff check
        (date(1930, 5, 5), "M", date(2026, 3, 2), True),
        (date(1992, 1, 8), "F", date(2026, 3, 2), False),  # 34: below even the workers' 50 → 55
        (date(1992, 1, 8), "M", date(2026, 3, 2), False),
        # 52-year-old woman born 1973-06: as a worker her age stayed 50 (born before 1975), reached in 2023;
        # as a cadre it is 55y11m (above), reached in 2029-05. Only staff can tell which she is.
        (date(1973, 6, 1), "F", date(2026, 3, 2), None),
        # Woman born 1970-01-10: worker age 50 (2020), cadre age 55y1m → 2025-02-10: both reached by 2026.
        (date(1970, 1, 10), "F", date(2026, 3, 2), True),
        # Man born 1965-09-01: 60y3m → 2025-12-01; on 2025-11-30 not yet.
        (date(1965, 9, 1), "M", date(2025, 11, 30), False),
        (date(1965, 9, 1), "M", date(2025, 12, 1), True),
        # Man born 1966-01-20: 12 months after 1965-01, 12 // 4 + 1 = 4 → 60y4m → 2026-05-20.
        (date(1966, 1, 20), "M", date(2026, 3, 2), False),
        (date(1980, 1, 1), "U", date(2026, 3, 2), None),  # sex unknown
    ],
)
def test_reached_is_unknown_only_where_the_card_cannot_tell(born, sex, today, expected):
    assert reached(born, sex, today) is expected


def test_retirement_age_reads_as_on_the_annex():
    assert str(RetirementAge(60, 3)) == "60岁3个月" and str(RetirementAge(63, 0)) == "63岁"
