"""The terminal counts the dates it promises on the hub's holiday calendar, kept across restarts; anything
else on the calendar topic is refused with a log line and changes nothing."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from edge.runtime import EdgeRuntime
from edge.settings import EdgeSettings
from hub.calendar.publish import calendar_message
from protocol.codec import decode
from protocol.state import HubState, HubStateBody
from protocol.workdays import (
    CalendarAnnouncement,
    CalendarBody,
    Holiday,
    WorkCalendar,
    add_working_days,
    load_seed_calendar,
)

MONDAY = date(2026, 12, 7)


def _settings(tmp_path: Path) -> EdgeSettings:
    return EdgeSettings(terminal_id="T1", committee_code="JW001", data_dir=tmp_path)


def _hubs_calendar() -> WorkCalendar:
    """The shipped calendar with one more day off, as an administrator at the hub would add it."""
    seed = load_seed_calendar()
    extra = Holiday(name="测试", first=MONDAY, last=MONDAY)
    return seed.model_copy(update={"holidays": [*seed.holidays, extra]})


def _stored(rt: EdgeRuntime) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM work_calendar")).scalar_one())


def test_the_hubs_calendar_counts_from_when_it_arrives_and_after_a_restart(tmp_path):
    friday = date(2026, 12, 4)
    rt = EdgeRuntime(_settings(tmp_path))
    try:
        assert not rt.calendar.from_hub
        assert add_working_days(friday, 1, rt.calendar.current()) == MONDAY  # the seed: Monday is worked
        assert rt.calendar.on_announcement(calendar_message(_hubs_calendar())) == []
        # By hand: Saturday and Sunday are weekend days, Monday the hub's new holiday: Tuesday.
        assert add_working_days(friday, 1, rt.calendar.current()) == date(2026, 12, 8)
        assert rt.calendar.from_hub
        assert not rt.calendar.apply(_body())  # the same calendar again (a reconnect): nothing written
    finally:
        rt.close()
    again = EdgeRuntime(_settings(tmp_path))  # no hub to ask: the kept one counts
    try:
        assert again.calendar.from_hub
        assert not again.calendar.current().is_working_day(MONDAY)
    finally:
        again.close()


def _body() -> CalendarBody:
    message = decode(calendar_message(_hubs_calendar()))
    assert isinstance(message, CalendarAnnouncement)
    return message.body


def _tampered() -> bytes:
    """A message whose calendar does not hash to the hash it carries."""
    raw = json.loads(calendar_message(_hubs_calendar()))
    raw["body"]["calendar"]["holidays"].pop()
    return json.dumps(raw, ensure_ascii=False).encode()


def _inconsistent() -> bytes:
    """A Monday as a worked weekend day: no calendar can hold it."""
    raw = json.loads(calendar_message(load_seed_calendar()))
    raw["body"]["calendar"]["adjusted_workdays"].append({"day": MONDAY.isoformat(), "name": "测试"})
    return json.dumps(raw, ensure_ascii=False).encode()


def _other_type() -> bytes:
    return HubState(terminal="hub", body=HubStateBody(online=True)).encode()


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"v": 1}', _tampered(), _inconsistent(), _other_type(), b"\xff" * 10],
    ids=["garbage", "no-type", "tampered", "inconsistent", "other-type", "not-utf8"],
)
def test_anything_else_on_the_calendar_topic_is_refused_and_changes_nothing(tmp_path, payload, caplog):
    rt = EdgeRuntime(_settings(tmp_path))
    try:
        before = rt.calendar.current()
        with caplog.at_level(logging.ERROR, logger="edge.catalogue.calendar"):
            assert rt.calendar.on_announcement(payload) == []
        assert rt.calendar.current() is before and not rt.calendar.from_hub
        assert _stored(rt) == 0
        assert any("refused" in r.getMessage() for r in caplog.records)
        # the terminal's alarm (the fleet page's alert, through its heartbeats), until the hub's own comes
        assert "节假日安排" in rt.alarms.active()["calendar_refused"]
        assert rt.calendar.on_announcement(calendar_message(_hubs_calendar())) == []
        assert "calendar_refused" not in rt.alarms.active() and rt.calendar.from_hub
    finally:
        rt.close()


def test_a_cleared_retained_copy_keeps_the_calendar_held(tmp_path):
    rt = EdgeRuntime(_settings(tmp_path))
    try:
        rt.calendar.on_announcement(calendar_message(_hubs_calendar()))
        held = rt.calendar.current()
        assert rt.calendar.on_announcement(b"") == []
        assert rt.calendar.current() is held and _stored(rt) == 1
    finally:
        rt.close()


def test_a_kept_calendar_made_unreadable_falls_back_to_the_shipped_one_for_service_and_console(tmp_path, caplog):
    """A damaged row (an SD card's bad sector, a hand edit): the terminal and its field console both count on
    the shipped calendar and say so, rather than fail to start or to show the catalogue pane."""
    from edge.console.store import ConsoleStore

    rt = EdgeRuntime(_settings(tmp_path))
    try:
        rt.calendar.on_announcement(calendar_message(_hubs_calendar()))
        with rt.engine.begin() as conn:
            conn.execute(text('UPDATE work_calendar SET body = \'{"years": [2026], "holidays": 5}\''))
    finally:
        rt.close()
    with caplog.at_level(logging.ERROR, logger="edge.catalogue.calendar"):
        again = EdgeRuntime(_settings(tmp_path))
        try:
            assert not again.calendar.from_hub and again.calendar.current().is_working_day(MONDAY)
        finally:
            again.close()
        console = ConsoleStore(_settings(tmp_path))
        try:
            facts = console.facts()
        finally:
            console.close()
    assert facts.calendar_received_at is None and facts.calendar_years == load_seed_calendar().years
    assert any("unreadable" in r.getMessage() for r in caplog.records)
