"""Promised time (承诺时限) in working days on the calendar the hub database holds: weekends, the 2026
holidays and their adjusted working weekends (调休), a case received on a day off, an immediate item,
an administrator's new holiday, the 补正 pause, and the yellow/red cards counted from all that."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.calendar.duedates import DueDates, paused_working_days
from hub.calendar.service import CalendarService, InvalidDay
from hub.cases.clock import Light, light, warn_limit
from hub.db.engine import open_engine
from protocol.catalogue import load_seed
from protocol.localtime import local_date
from protocol.workdays import load_seed_calendar


@pytest.fixture
def due(hub_db_url):
    engine = open_engine(hub_db_url)
    seed = load_seed()
    # the administrator edits in March 2026, where these tests' cases are: a day gone by is not edited
    yield DueDates(CalendarService(engine, today=lambda: date(2026, 3, 2)), seed.get)
    engine.dispose()


def at(day: str, hour: int = 2) -> datetime:
    """A UTC instant on a Shanghai working morning (02:00 UTC is 10:00 local)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "received", "expected"),
    [
        ("GA-003", "2026-03-06", "2026-03-11"),  # 3 days from a Friday: Mon, Tue, Wed
        ("DA-002", "2026-09-30", "2026-10-13"),  # 国庆 1–7 Oct off: Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13
        ("RS-008", "2026-02-12", "2026-02-26"),  # 5 days across 春节: Fri 13, Sat 14 (调休), 15–23 off, Tue 24 … Thu 26
        ("YB-001", "2026-04-30", "2026-05-13"),  # 7 days across 劳动节 1–5 May; Sat 9 May worked
        ("MZ-003", "2026-09-30", "2026-09-30"),  # an immediate item is due the day it arrives if it is worked…
        ("MZ-003", "2026-10-03", "2026-10-08"),  # …else the first working day after: 国庆 1–7 Oct off, Thu 8
    ],
)
def test_due_date_counts_working_days_across_weekends_and_holidays(due, item, received, expected):
    assert due(item, at(received)) == date.fromisoformat(expected)


def test_a_case_received_on_a_day_off_is_counted_from_the_next_working_day(due):
    # Saturday 7 March, 01:00 in Shanghai is still Friday 17:00 UTC: the local day decides.
    assert local_date(datetime(2026, 3, 6, 17, 0, tzinfo=UTC)) == date(2026, 3, 7)
    assert due("GA-003", datetime(2026, 3, 6, 17, 0, tzinfo=UTC)) == date(2026, 3, 12)  # Mon 9 + 3
    assert due("GA-003", datetime(2026, 3, 6, 15, 0, tzinfo=UTC)) == date(2026, 3, 11)  # Fri 23:00 local


def test_an_unknown_item_has_no_due_date(due):
    assert due("XX-999", at("2026-03-06")) is None


def test_a_holiday_the_administrator_adds_moves_due_dates_at_once(due):
    before = due("GA-003", at("2026-03-06"))
    due.calendar.set_day(date(2026, 3, 10), "off", "临时停业", "user:manager")
    assert due("GA-003", at("2026-03-06")) == before + timedelta(days=1)
    due.calendar.remove_day(date(2026, 3, 10), "user:manager")
    assert due("GA-003", at("2026-03-06")) == before
    with pytest.raises(InvalidDay):
        due.calendar.set_day(date(2026, 3, 10), "work", "周二", "user:manager")  # only a weekend can be worked


def test_the_database_calendar_starts_as_the_official_seed(hub_db_url):
    engine = open_engine(hub_db_url)
    try:
        seed = load_seed_calendar()
        held = CalendarService(engine).calendar()
        days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
        assert [held.is_working_day(d) for d in days] == [seed.is_working_day(d) for d in days]
    finally:
        engine.dispose()


def test_the_pause_for_materials_counts_the_working_days_it_lasted():
    cal = load_seed_calendar()
    friday, monday, wednesday = at("2026-03-06"), at("2026-03-09"), at("2026-03-11")
    assert paused_working_days(friday, friday, cal) == 0
    assert paused_working_days(friday, monday, cal) == 1
    assert paused_working_days(friday, wednesday, cal) == 3
    assert paused_working_days(at("2026-09-30"), at("2026-10-08"), cal) == 1  # the national holiday is free


def test_cards_yellow_the_working_day_before_red_after_and_none_while_paused():
    cal = load_seed_calendar()
    thursday = date(2026, 3, 5)
    assert light("under_review", date(2026, 3, 9), thursday, cal) is Light.GREEN
    assert light("under_review", date(2026, 3, 6), thursday, cal) is Light.YELLOW  # one working day left
    assert light("under_review", thursday, thursday, cal) is Light.YELLOW  # due today
    assert light("accepted", date(2026, 3, 4), thursday, cal) is Light.RED
    assert light("more_materials", date(2026, 3, 4), thursday, cal) is Light.PAUSED
    assert light("completed", date(2026, 3, 4), thursday, cal) is Light.DONE
    assert light("submitted", None, thursday, cal) is Light.NONE
    # Friday: Monday is the next working day, so a case due Monday is already yellow.
    assert light("accepted", date(2026, 3, 9), date(2026, 3, 6), cal) is Light.YELLOW


def test_the_overdue_boards_yellow_limit_agrees_with_the_card_of_every_case():
    cal = load_seed_calendar()
    for today in (date(2026, 1, 1) + timedelta(days=i) for i in range(0, 365, 3)):
        limit = warn_limit(today, cal)
        for offset in range(0, 12):
            due = today + timedelta(days=offset)
            assert (light("accepted", due, today, cal) is Light.YELLOW) == (due <= limit), (today, due)


def test_a_day_gone_by_is_not_made_a_holiday_nor_unmade_one(hub_db_url):
    """A review: the operator declared 12 past days holidays, and 73 open cases' promised (and statutory)
    dates moved, red cards dropping from 16 to 9. Days before today are refused, both ways; today is not."""
    engine = open_engine(hub_db_url)
    try:
        calendar = CalendarService(engine, today=lambda: date(2026, 12, 7))
        with pytest.raises(InvalidDay, match="已经过去"):
            calendar.set_days(date(2026, 11, 23), date(2026, 12, 4), "off", "测试", "user:operator")
        with pytest.raises(InvalidDay, match="已经过去"):
            calendar.set_days(date(2026, 12, 6), date(2026, 12, 8), "off", "测试", "user:operator")  # starts past
        calendar.set_day(date(2026, 12, 7), "off", "台风停业", "user:manager")  # today: a closure announced today
        later = CalendarService(engine, today=lambda: date(2026, 12, 8))
        with pytest.raises(InvalidDay, match="已经过去"):
            later.remove_day(date(2026, 12, 7), "user:manager")
        assert date(2026, 12, 7) in [d.day for d in later.days(2026)], "still a holiday"
    finally:
        engine.dispose()
