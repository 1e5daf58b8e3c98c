"""Electronic supervision of promised time: green, a yellow card (黄牌) shortly before the due date, a red
card (红牌) after it; paused while the case waits for materials (补正).

The statutory time limit (法定办结时限) is watched the same way with its own warning: the same lights
on the statutory due date, the yellow one from :data:`STATUTORY_WARN_DAYS` working days before it."""

from __future__ import annotations

import enum
from datetime import date, timedelta

from hub.cases.states import CLOSED
from protocol.cases import CaseStatus
from protocol.workdays import WorkCalendar, working_days_between

__all__ = ["STATUTORY_WARN_DAYS", "WARN_DAYS", "Light", "light", "warn_limit"]

WARN_DAYS = 1
"""A yellow card when this many working days or fewer are left (the due day itself counts as 0)."""
STATUTORY_WARN_DAYS = 2
"""The statutory warning when this many working days or fewer are left before the statutory due date:
earlier than the promised-time card, as passing the law's limit is the graver failure."""


class Light(enum.StrEnum):
    NONE = "none"  # no promised time known
    GREEN = "green"
    YELLOW = "yellow"  # 黄牌预警
    RED = "red"  # 红牌: overdue
    PAUSED = "paused"  # 补正: the clock stands still
    DONE = "done"


def light(status: str, due: date | None, today: date, calendar: WorkCalendar, warn_days: int = WARN_DAYS) -> Light:
    if status in CLOSED:
        return Light.DONE
    if status == CaseStatus.MORE_MATERIALS:
        return Light.PAUSED
    if due is None:
        return Light.NONE
    if due < today:
        return Light.RED
    return Light.YELLOW if working_days_between(today, due, calendar) <= warn_days else Light.GREEN


def warn_limit(today: date, calendar: WorkCalendar, warn_days: int = WARN_DAYS) -> date:
    """The latest due date that already earns a yellow card today (consistent with :func:`light`)."""
    day, left = today, 0
    for _ in range(366):  # a calendar with no working day for a year is a data error, not a hang
        following = day + timedelta(days=1)
        if calendar.is_working_day(following):
            if left == warn_days:
                return day
            left += 1
        day = following
    return day
