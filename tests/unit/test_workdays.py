"""Working days for promised time limits, with the 2026 State Council holiday arrangement.

A promised item is due a number of working days after it is accepted. These tests count across weekends,
the 2026 Spring Festival and National Day holidays, and the weekend days worked in exchange (调休), and
check that a case submitted on a day off starts counting from the next working day.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol.workdays import (
    AdjustedWorkday,
    Holiday,
    WorkCalendar,
    add_working_days,
    load_seed_calendar,
    next_working_day,
    working_days_between,
)

CAL = load_seed_calendar()
D = date


def test_seed_is_the_2026_notice() -> None:
    assert CAL.years == [2026]
    spans = {h.name: (h.first, h.last) for h in CAL.holidays}
    assert spans == {
        "元旦": (D(2026, 1, 1), D(2026, 1, 3)),
        "春节": (D(2026, 2, 15), D(2026, 2, 23)),
        "清明节": (D(2026, 4, 4), D(2026, 4, 6)),
        "劳动节": (D(2026, 5, 1), D(2026, 5, 5)),
        "端午节": (D(2026, 6, 19), D(2026, 6, 21)),
        "中秋节": (D(2026, 9, 25), D(2026, 9, 27)),
        "国庆节": (D(2026, 10, 1), D(2026, 10, 7)),
    }
    worked = [a.day for a in CAL.adjusted_workdays]
    assert worked == [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)]
    assert sum(len(h.days()) for h in CAL.holidays) == 33


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 3, 6), True),  # Friday
        (D(2026, 3, 7), False),  # Saturday
        (D(2026, 3, 8), False),  # Sunday
        (D(2026, 1, 1), False),  # 元旦
        (D(2026, 1, 4), True),  # Sunday worked for 元旦
        (D(2026, 2, 14), True),  # Saturday worked for 春节
        (D(2026, 2, 16), False),  # Monday in 春节
        (D(2026, 2, 23), False),  # last day of 春节, a Monday
        (D(2026, 2, 24), True),
        (D(2026, 2, 28), True),  # Saturday worked for 春节
        (D(2026, 4, 6), False),  # 清明节 Monday
        (D(2026, 5, 5), False),  # 劳动节 Tuesday
        (D(2026, 5, 9), True),  # Saturday worked for 劳动节
        (D(2026, 9, 20), True),  # Sunday worked for 国庆节
        (D(2026, 10, 7), False),  # 国庆节 Wednesday
        (D(2026, 10, 8), True),
        (D(2026, 10, 10), True),  # Saturday worked for 国庆节
        (D(2027, 1, 1), True),  # not covered: only weekends are days off
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_calendar_knows_which_years_it_covers() -> None:
    assert CAL.covers(D(2026, 7, 1)) and not CAL.covers(D(2027, 7, 1))


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (D(2026, 3, 5), 0, D(2026, 3, 5)),  # immediate: same day
        (D(2026, 3, 7), 0, D(2026, 3, 9)),  # immediate on a Saturday: the centre is closed, so Monday
        (D(2026, 3, 5), 1, D(2026, 3, 6)),
        (D(2026, 3, 6), 1, D(2026, 3, 9)),  # Friday → Monday
        (D(2026, 3, 5), 3, D(2026, 3, 10)),  # across a weekend
        (D(2026, 3, 7), 1, D(2026, 3, 10)),  # Saturday: received Monday, due Tuesday
        (D(2026, 3, 8), 5, D(2026, 3, 16)),  # Sunday: received Monday 9th
        (D(2026, 3, 2), 20, D(2026, 3, 30)),
        # 元旦 across the year boundary (2025 is not in the calendar, 2026 is)
        (D(2025, 12, 31), 1, D(2026, 1, 4)),  # the Sunday worked for 元旦
        (D(2025, 12, 31), 2, D(2026, 1, 5)),
        # 春节: 14 Feb (Sat) is worked, 15-23 Feb off, 28 Feb (Sat) worked
        (D(2026, 2, 13), 1, D(2026, 2, 14)),
        (D(2026, 2, 13), 2, D(2026, 2, 24)),
        (D(2026, 2, 12), 5, D(2026, 2, 26)),
        (D(2026, 2, 16), 1, D(2026, 2, 25)),  # submitted during the holiday: received 24 Feb
        (D(2026, 2, 15), 1, D(2026, 2, 25)),
        (D(2026, 2, 24), 4, D(2026, 2, 28)),  # lands on the worked Saturday
        (D(2026, 2, 24), 5, D(2026, 3, 2)),
        # 劳动节: 1-5 May off, 9 May (Sat) worked
        (D(2026, 4, 30), 1, D(2026, 5, 6)),
        (D(2026, 5, 8), 1, D(2026, 5, 9)),
        # 国庆节: 20 Sep (Sun) worked, 1-7 Oct off, 10 Oct (Sat) worked
        (D(2026, 9, 18), 1, D(2026, 9, 20)),
        (D(2026, 9, 19), 1, D(2026, 9, 21)),  # Saturday submission, received on the worked Sunday
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 9, 30), 3, D(2026, 10, 10)),
        (D(2026, 9, 30), 4, D(2026, 10, 12)),
        (D(2026, 9, 28), 7, D(2026, 10, 13)),
        (D(2026, 10, 3), 1, D(2026, 10, 9)),  # submitted during the holiday: received 8 Oct
        # 中秋节 then 国庆节: a 15-day promise from 21 Sep
        (D(2026, 9, 21), 15, D(2026, 10, 19)),
    ],
)
def test_add_working_days(start: date, n: int, due: date) -> None:
    assert add_working_days(start, n, CAL) == due


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(D(2026, 3, 2), -1, CAL)


def test_next_working_day() -> None:
    assert next_working_day(D(2026, 2, 15), CAL) == D(2026, 2, 24)
    assert next_working_day(D(2026, 2, 14), CAL) == D(2026, 2, 14)


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (D(2026, 3, 2), D(2026, 3, 2), 0),
        (D(2026, 3, 6), D(2026, 3, 9), 1),
        (D(2026, 3, 9), D(2026, 3, 6), -1),
        (D(2026, 9, 30), D(2026, 10, 8), 1),
        (D(2026, 2, 13), D(2026, 2, 24), 2),
        (D(2026, 2, 13), D(2026, 2, 28), 6),  # 14, 24-27 and 28 Feb
        (D(2026, 3, 7), D(2026, 3, 8), 0),  # a weekend has no working days
        (D(2026, 9, 26), D(2026, 10, 8), 4),  # 28, 29, 30 Sep and 8 Oct
    ],
)
def test_working_days_between(start: date, end: date, count: int) -> None:
    assert working_days_between(start, end, CAL) == count


days_2026 = st.dates(min_value=D(2025, 12, 1), max_value=D(2027, 1, 31))


# A second implementation, written here from the State Council's 2026 notice rather than taken from
# protocol.workdays or its seed file: walk day by day, skipping weekends and holidays, working the
# adjusted weekend days. Years the notice does not cover have only weekends off.
NOTICE_2026_OFF = {
    first + timedelta(days=i)
    for first, length in [
        (D(2026, 1, 1), 3),  # 元旦
        (D(2026, 2, 15), 9),  # 春节
        (D(2026, 4, 4), 3),  # 清明节
        (D(2026, 5, 1), 5),  # 劳动节
        (D(2026, 6, 19), 3),  # 端午节
        (D(2026, 9, 25), 3),  # 中秋节
        (D(2026, 10, 1), 7),  # 国庆节
    ]
    for i in range(length)
}
NOTICE_2026_WORKED = {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)}


def _working(day: date) -> bool:
    if day in NOTICE_2026_WORKED:
        return True
    return day.weekday() < 5 and day not in NOTICE_2026_OFF


def _due_by_walking(submitted: date, n: int) -> date:
    """n working days after the day received (the first working day from the day submitted): an immediate
    item (0) on that day."""
    day = submitted
    while not _working(day):  # received on the next working day
        day += timedelta(days=1)
    while n:
        day += timedelta(days=1)
        n -= _working(day)
    return day


def _between_by_walking(start: date, end: date) -> int:
    """Working days in (start, end], negative when end comes first."""
    if end < start:
        return -_between_by_walking(end, start)
    return sum(_working(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


def test_the_walking_implementation_holds_the_notices_33_days_off() -> None:
    assert len(NOTICE_2026_OFF) == 33


@given(days_2026, st.integers(0, 60))
def test_due_dates_agree_with_walking_the_notice_day_by_day(start: date, n: int) -> None:
    assert add_working_days(start, n, CAL) == _due_by_walking(start, n)


@given(days_2026, days_2026)
def test_days_between_agree_with_walking_the_notice_day_by_day(a: date, b: date) -> None:
    assert working_days_between(a, b, CAL) == _between_by_walking(a, b)


@given(days_2026, st.integers(0, 60))
def test_add_and_between_agree(start: date, n: int) -> None:
    due = add_working_days(start, n, CAL)
    received = next_working_day(start, CAL)
    assert CAL.is_working_day(due) and (due > received if n else due == received)
    assert working_days_between(received, due, CAL) == n


@given(days_2026, st.integers(1, 60))
def test_one_more_day_is_the_next_working_day(start: date, n: int) -> None:
    due = add_working_days(start, n, CAL)
    after = add_working_days(start, n + 1, CAL)
    assert after == next_working_day(due + timedelta(days=1), CAL)


@given(days_2026, days_2026)
def test_between_is_antisymmetric(a: date, b: date) -> None:
    assert working_days_between(a, b, CAL) == -working_days_between(b, a, CAL)


def test_adjusted_workday_must_be_a_weekend() -> None:
    with pytest.raises(ValidationError, match="weekday"):
        AdjustedWorkday(day=D(2026, 3, 4), name="x")


def test_a_day_cannot_be_both_off_and_worked() -> None:
    with pytest.raises(ValidationError, match="both"):
        WorkCalendar(
            years=[2026],
            holidays=[Holiday(name="x", first=D(2026, 3, 7), last=D(2026, 3, 8))],
            adjusted_workdays=[AdjustedWorkday(day=D(2026, 3, 7), name="x")],
        )


def test_days_outside_the_covered_years_are_refused() -> None:
    with pytest.raises(ValidationError, match="outside the years"):
        WorkCalendar(years=[2027], holidays=[Holiday(name="x", first=D(2026, 3, 2), last=D(2026, 3, 2))])


def test_holiday_span_must_be_ordered_and_short() -> None:
    with pytest.raises(ValidationError, match="span"):
        Holiday(name="x", first=D(2026, 3, 3), last=D(2026, 3, 2))
    with pytest.raises(ValidationError, match="span"):
        Holiday(name="x", first=D(2026, 1, 1), last=D(2026, 12, 31))


def test_calendar_hash_is_stable_and_changes_with_the_data() -> None:
    assert CAL.content_hash() == load_seed_calendar().content_hash()
    extra = Holiday(name="临时", first=D(2026, 3, 3), last=D(2026, 3, 3))
    changed = CAL.model_copy(update={"holidays": [*CAL.holidays, extra]})
    assert changed.content_hash() != CAL.content_hash()


def test_calendar_round_trips_through_json() -> None:
    again = WorkCalendar.model_validate_json(CAL.model_dump_json())
    assert again == CAL
    assert not again.is_working_day(D(2026, 10, 1))
