"""The date a kiosk promises a resident is the centre's: a holiday the administrator enters at the hub moves
it on the kiosk's page, over the broker, without a restart (the kiosk counted on the calendar shipped with
the release, so its dates and the centre's due dates parted whenever the two calendars did)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

_DUE = re.compile(r"今天申请，预计 (\d{4}-\d{2}-\d{2}) 前办结")


def _shown_due(page, url: str) -> date:
    page.goto(url)
    found = _DUE.search(page.locator("main").inner_text())
    assert found, "the item page shows the promised date"
    return date.fromisoformat(found.group(1))


def _tentative(page) -> bool:
    """The item page says the date may move past holidays not announced yet."""
    return "节假日安排尚未公布，遇法定节假日顺延" in page.locator("main").inner_text()


def _hub_years(hub) -> set[int]:
    """The years whose arrangement the centre said is complete."""
    with hub.engine.connect() as conn:
        return {int(y) for (y,) in conn.execute(text("SELECT year FROM calendar_years"))}


def _next_worked_day(after: date, hub) -> date:
    """Written here, not taken from the code: the first day after ``after`` that is a weekday and not a
    holiday at the hub, or a weekend day worked in exchange."""
    with hub.engine.connect() as conn:
        special = {str(d)[:10]: kind for d, kind in conn.execute(text("SELECT day, kind FROM calendar_days"))}
    day = after + timedelta(days=1)
    while not (special.get(day.isoformat()) == "work" or (day.weekday() < 5 and day.isoformat() not in special)):
        day += timedelta(days=1)
    return day


def test_a_holiday_entered_at_the_hub_moves_the_date_the_kiosk_promises(hub_factory, edge_factory, start_kiosk, page):
    hub = hub_factory()
    edge = edge_factory()
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    k = start_kiosk(runtime=edge)
    page.goto(k.url)
    k.tap("sun-zhiming")
    page.wait_for_url(re.compile(r"/services$"))

    item = f"{k.url}/item/MZ-002"  # 敬老卡申领: 20 working days
    wait_for(lambda: edge.calendar.from_hub, what="the hub's calendar at the terminal")
    before = _shown_due(page, item)
    # a date in a year the centre has entered no holidays for (in December: January's) may move: it says so
    assert _tentative(page) == (before.year not in _hub_years(hub))
    hub.calendar.set_day(before, "off", "测试", "test")  # the day it was due on is a holiday now
    if before.year not in _hub_years(hub):  # in December, January's year: terminals get its days once complete
        hub.calendar.complete_year(before.year, "test")

    after = _next_worked_day(before, hub)
    wait_for(lambda: _shown_due(page, item) == after, timeout=30, what=f"the kiosk promises {after}, not {before}")
    assert _tentative(page) == (after.year not in _hub_years(hub))
