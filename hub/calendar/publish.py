"""The calendar in force, retained on ``shegong/v1/hub/calendar`` for the terminals.

The kiosks promise residents a completion date and suggest a day to visit the centre: counted on the
hub's calendar (its complete years, :meth:`CalendarService.published`; in a year not complete the kiosk
counts weekends only and says the date may move), they agree with the due dates the centre keeps (an
edit made here reaches every terminal within a tick, and a terminal that was offline reads it when it
connects). Published by the leading hub process on its periodic tick, when the calendar changed, when
this process came to lead, and after the broker link came back (the broker may have lost the retained
copy).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from hub.calendar.service import CalendarService
from protocol import topics
from protocol.envelope import utcnow
from protocol.workdays import CalendarAnnouncement, CalendarBody, WorkCalendar

__all__ = ["CalendarPublisher", "calendar_message"]

log = logging.getLogger(__name__)


def calendar_message(calendar: WorkCalendar) -> bytes:
    body = CalendarBody(calendar=calendar, content_hash=calendar.content_hash(), published_at=utcnow())
    return CalendarAnnouncement(terminal="hub", body=body).encode()


class CalendarPublisher:
    """A tick job (:attr:`hub.fleet.registry.FleetRegistry.on_tick`, the leader's): publish the calendar in
    force when it differs from what this process published over its current broker link."""

    __name__ = "calendar publisher"

    def __init__(
        self, calendar: CalendarService, client: mqtt.Client, connected: Callable[[], bool], every_s: float = 2.0
    ) -> None:
        self.calendar = calendar
        self.client = client
        self.connected = connected  # the worker's "subscribed and online"
        self.every_s = every_s
        self._last = float("-inf")
        self._published: str | None = None  # content hash last published over this link

    def __call__(self) -> int:
        if not self.connected():
            self._published = None  # the link went: publish again once it is back
            return 0
        if time.monotonic() - self._last < self.every_s:
            return 0
        self._last = time.monotonic()
        calendar = self.calendar.published()  # a year not complete yet: none of its days
        digest = calendar.content_hash()
        if digest == self._published:
            return 0
        info = self.client.publish(topics.calendar(), calendar_message(calendar), qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return 0
        self._published = digest
        log.info("published the holiday calendar (years %s, %s)", calendar.years, digest[:19])
        return 1

    def leading_changed(self, _leads: bool) -> None:
        """(:attr:`hub.leader.Leadership.on_change`) Publish at the next tick this process leads, whatever
        it published before: another process led meanwhile, and the broker may have lost the copy."""
        self._published = None
