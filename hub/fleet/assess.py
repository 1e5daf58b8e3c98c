"""The rules of fleet health, pure: facts about one terminal in, its state and its problems out.

State (connection and liveness are different things, as in ThingsBoard's inactivity timeout):

- ``offline``: its death (the Will, or a clean goodbye) was accepted and no birth came after;
- ``silent``: connected as far as the broker knows, but nothing heard for ``silent_after_s``;
- ``flapping``: ``flap_transitions`` link drops (deaths or silences) within ``flap_window_s``;
- ``online`` otherwise; ``unknown`` before anything was heard.

Whatever its state, a terminal the hub lately rate-limited, or whose messages it lately refused by the
dozen, has a problem of its own (``rate_limited``, ``dead_letters``): the operator sees which terminal
floods the hub, by name.

Problems become alerts. While a terminal flaps, its ``offline`` alert is held as it is (neither raised
nor cleared at each drop): the one ``flapping`` alert stands for the unstable link. Once the drops leave the
window with the terminal away, the ``flapping`` alert is held until the ``offline`` one is raised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.settings import FleetSettings
from protocol.health import PRINTER_FAULTS, READER_FAULTS

__all__ = ["HELP_ALARM", "AlertKind", "Assessment", "Desired", "Facts", "State", "assess", "unsent_age_s"]


class State(enum.StrEnum):
    ONLINE = "online"
    SILENT = "silent"
    FLAPPING = "flapping"
    OFFLINE = "offline"
    UNKNOWN = "unknown"
    RETIRED = "retired"  # taken out of service (`shegong hub terminal retire`): shown, never assessed or alerted

    @property
    def rank(self) -> int:
        """Order of trouble, worst first, for the dashboard."""
        return _RANK[self]


_RANK = {State.OFFLINE: 0, State.FLAPPING: 1, State.SILENT: 2, State.UNKNOWN: 3, State.ONLINE: 4, State.RETIRED: 5}


class AlertKind(enum.StrEnum):
    OFFLINE = "offline"  # unreachable longer than offline_alert_s
    FLAPPING = "flapping"
    OUTBOX_STALE = "outbox_stale"  # oldest unsent case older than outbox_alert_s
    CATALOGUE_BEHIND = "catalogue_behind"
    CATALOGUE_AHEAD = "catalogue_ahead"  # runs a version above the hub's newest: the hub's database went back
    PRINTER_PAPER = "printer_paper"
    PRINTER_FAULT = "printer_fault"
    READER_FAULT = "reader_fault"
    CLOCK = "clock"
    DISK_LOW = "disk_low"
    RATE_LIMITED = "rate_limited"  # the hub set aside messages over the terminal's rate, lately
    DEAD_LETTERS = "dead_letters"  # the hub refused many of the terminal's messages, lately
    HELP_REQUESTED = "help_requested"  # a resident called for staff at the kiosk (hub.fleet.help)
    ANCHOR_REFUSED = "anchor_refused"  # the terminal refused an audit anchor the hub did not sign
    CALENDAR_REFUSED = "calendar_refused"  # the terminal refused a holiday calendar that does not check out


HELP_ALARM = "help_requested"  # the kiosk's alarm while a resident's call for staff is open
ANCHOR_ALARM = "anchor_refused"  # the terminal's alarm after an anchor not signed by the hub (edge.night.witness)
CALENDAR_ALARM = "calendar_refused"  # the terminal's alarm after a calendar it refused (edge.catalogue.calendar)


@dataclass(frozen=True, slots=True)
class Desired:
    """The catalogue version terminals should run, and when it was published."""

    version: int
    published_at: datetime


@dataclass(frozen=True, slots=True)
class Facts:
    """What the hub knows of one terminal (``terminals`` row, last heartbeat, recent link drops)."""

    online: bool
    last_seen_at: datetime | None
    last_birth_at: datetime | None = None
    clock_skew_s: float | None = None
    health: dict[str, Any] = field(default_factory=dict)  # the last HeartbeatBody, as JSON
    catalogue_version: int = 0
    drops: int = 0  # deaths and silences within the flap window
    rate_limited: int = 0  # its messages set aside over its rate, within the dead-letter window
    refused: int = 0  # its other dead letters within the dead-letter window


@dataclass(frozen=True, slots=True)
class Assessment:
    state: State
    away_s: float | None  # seconds since last heard, when not online
    problems: dict[AlertKind, str]  # kind -> detail (the measured value)
    hold: frozenset[AlertKind] = frozenset()  # kinds whose alert is kept as it is

    @property
    def ok(self) -> bool:
        return self.state is State.ONLINE and not self.problems


def unsent_age_s(oldest_unsent_at: str, clock_skew_s: float | None, now: datetime) -> float:
    """How long a terminal's oldest unsent item has waited by the hub's clock ``now``: the terminal stamped it
    by its own, ``clock_skew_s`` behind the hub's (a clock 35 minutes slow made an item queued a minute ago
    look 36 minutes old, one an hour fast hid an item 50 minutes old)."""
    return (now - datetime.fromisoformat(oldest_unsent_at)).total_seconds() - (clock_skew_s or 0.0)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _refusals(f: Facts, s: FleetSettings) -> dict[AlertKind, str]:
    window = _minutes(s.dead_letter_window_s)
    problems: dict[AlertKind, str] = {}
    if f.rate_limited:
        problems[AlertKind.RATE_LIMITED] = f"{f.rate_limited} / {window}"
    if f.refused >= s.dead_letter_alert:
        problems[AlertKind.DEAD_LETTERS] = f"{f.refused} / {window}"
    return problems


def assess(f: Facts, now: datetime, s: FleetSettings, desired: Desired | None = None) -> Assessment:
    if f.last_seen_at is None:  # nothing valid heard yet; a terminal sending only refused messages is here
        return Assessment(State.UNKNOWN, None, _refusals(f, s))
    quiet = (now - f.last_seen_at).total_seconds()
    if f.drops >= s.flap_transitions:
        state = State.FLAPPING
    elif not f.online:
        state = State.OFFLINE
    elif quiet > s.silent_after_s:
        state = State.SILENT
    else:
        state = State.ONLINE
    reachable = f.online and quiet <= s.silent_after_s
    away = None if reachable else max(0.0, quiet)
    problems: dict[AlertKind, str] = {}
    hold: set[AlertKind] = set()

    if state is State.FLAPPING:
        problems[AlertKind.FLAPPING] = f"{f.drops} drops / {_minutes(s.flap_window_s)}"
        hold.add(AlertKind.OFFLINE)
    elif away is not None and away > s.offline_alert_s:
        problems[AlertKind.OFFLINE] = _minutes(away)
    elif away is not None:
        # gone quiet after flapping (its drops leave the window while it is away): the flapping alert stands
        # until the offline one is raised, so no minute passes with the terminal down and nothing alerted
        hold.add(AlertKind.FLAPPING)

    h = f.health
    oldest = h.get("oldest_unsent_at")
    if oldest:
        age = unsent_age_s(oldest, f.clock_skew_s, now)
        if age > s.outbox_alert_s:
            problems[AlertKind.OUTBOX_STALE] = f"{h.get('outbox_depth', 0)} / {_minutes(age)}"

    if desired is not None and f.catalogue_version < desired.version:
        since = max(desired.published_at, f.last_birth_at or desired.published_at)
        if (now - since).total_seconds() > s.catalogue_grace_s:
            problems[AlertKind.CATALOGUE_BEHIND] = f"v{f.catalogue_version} < v{desired.version}"
    elif desired is not None and f.catalogue_version > desired.version:
        # No grace: a terminal never runs a version the hub has not published, unless the hub's database was
        # restored from a backup older than its last publication. Nothing the hub announces reaches it then.
        problems[AlertKind.CATALOGUE_AHEAD] = f"v{f.catalogue_version} > v{desired.version}"

    problems.update(_device_problems(h))
    if f.clock_skew_s is not None and abs(f.clock_skew_s) > s.clock_alert_s:
        problems[AlertKind.CLOCK] = f"{-f.clock_skew_s:+.0f} s"
    disk = h.get("disk_free_mb")
    if disk is not None and disk < s.disk_alert_mb:
        problems[AlertKind.DISK_LOW] = f"{disk:.0f} MB"
    problems.update(_refusals(f, s))
    if HELP_ALARM in h.get("alarms", ()):
        problems[AlertKind.HELP_REQUESTED] = ""
    if ANCHOR_ALARM in h.get("alarms", ()):
        problems[AlertKind.ANCHOR_REFUSED] = ""
    if CALENDAR_ALARM in h.get("alarms", ()):
        problems[AlertKind.CALENDAR_REFUSED] = ""
    return Assessment(state, away, problems, frozenset(hold))


def _device_problems(heartbeat: dict[str, Any]) -> dict[AlertKind, str]:
    """The alerts a heartbeat's printer and reader states raise: those of :mod:`protocol.health`, as the
    terminal's console judges them too (paper out has its own alert, the other faults one)."""
    problems: dict[AlertKind, str] = {}
    printer, reader = str(heartbeat.get("printer", "")), str(heartbeat.get("reader", ""))
    if printer == "paper_out":
        problems[AlertKind.PRINTER_PAPER] = printer
    elif printer in PRINTER_FAULTS:
        problems[AlertKind.PRINTER_FAULT] = printer
    if reader in READER_FAULTS:
        problems[AlertKind.READER_FAULT] = reader
    return problems
