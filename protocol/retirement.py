"""Statutory retirement age (法定退休年龄) after the 2025 reform, from the birth date alone.

The NPC Standing Committee's 《关于实施渐进式延迟法定退休年龄的决定》 (2024-09-13) and the State
Council's 《关于渐进式延迟法定退休年龄的办法》 take effect on 2025-01-01. Before it, men retired at 60,
women cadres (管理、专业技术岗位) at 55 and women workers at 50. From 2025-01-01:

- men and women of the original age 55: one month later every four months, towards 63 and 58;
- women of the original age 50: one month later every two months, towards 55.

The step follows the birth month, counted from the first people who reach the old age in 2025-01: men
born 1965-01, women (55) born 1970-01, women (50) born 1975-01. Annex 1 of the decision: a man born
1965-01 to 1965-04 retires at 60 years 1 month (2025-02 to 2025-05); one born 1976-09 or later at 63.

Eligibility needs one fact from this: has the holder reached the statutory retirement age today? For men
the card decides it; for a woman it depends on her original age (50 as a worker, 55 as a cadre), which
the card cannot tell, so between the two it is unknown (staff check). Early or late retirement by choice
(弹性退休, up to three years either way) is a fact about the person, not the age: staff know it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

__all__ = ["Category", "RetirementAge", "reached", "retirement_age", "retirement_day"]


class Category(enum.StrEnum):
    """Whose schedule: the original statutory age before the reform."""

    MEN = "men"  # 60 → 63
    WOMEN_55 = "women_55"  # 原法定退休年龄55周岁的女职工 (cadres): 55 → 58
    WOMEN_50 = "women_50"  # 原法定退休年龄50周岁的女职工 (workers): 50 → 55


@dataclass(frozen=True)
class _Schedule:
    old_age: int  # years
    first_born: tuple[int, int]  # (year, month) of the first births whose age moves
    months_per_step: int  # birth months that share one step
    max_delay: int  # months


_SCHEDULES = {
    Category.MEN: _Schedule(60, (1965, 1), 4, 36),
    Category.WOMEN_55: _Schedule(55, (1970, 1), 4, 36),
    Category.WOMEN_50: _Schedule(50, (1975, 1), 2, 60),
}


@dataclass(frozen=True, order=True)
class RetirementAge:
    """An age in whole years and months (60 years 3 months: ``RetirementAge(60, 3)``)."""

    years: int
    months: int

    @property
    def in_months(self) -> int:
        return 12 * self.years + self.months

    def __str__(self) -> str:
        return f"{self.years}岁{self.months}个月" if self.months else f"{self.years}岁"


def retirement_age(born: date, category: Category) -> RetirementAge:
    """The statutory retirement age of someone born on ``born`` (only the month counts)."""
    s = _SCHEDULES[category]
    # Birth months since the first one whose age moves; earlier births keep the old age.
    since = (born.year - s.first_born[0]) * 12 + (born.month - s.first_born[1])
    delay = 0 if since < 0 else min(s.max_delay, since // s.months_per_step + 1)
    return RetirementAge(s.old_age + delay // 12, delay % 12)


def retirement_day(born: date, category: Category) -> date:
    """The day the statutory retirement age is reached: the birthday that many years and months on.

    A birthday the month lacks (31st, 29 February) falls on that month's last day.
    """
    age = retirement_age(born, category)
    months = born.year * 12 + (born.month - 1) + age.in_months
    year, month = divmod(months, 12)
    month += 1
    for day in (born.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def reached(born: date, sex: str, today: date) -> bool | None:
    """Has someone of this birth date and sex (``"M"``/``"F"``) reached the statutory retirement age?

    ``None`` when the card cannot tell: a woman past the workers' age (50 → 55) but not the cadres'
    (55 → 58), or a sex other than M/F.
    """
    if sex == "M":
        return today >= retirement_day(born, Category.MEN)
    if sex != "F":
        return None
    if today < retirement_day(born, Category.WOMEN_50):
        return False
    if today >= retirement_day(born, Category.WOMEN_55):
        return True
    return None
