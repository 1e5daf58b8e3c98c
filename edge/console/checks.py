"""The overview's figures, each judged red, amber or green with the reason as a message key.

Pure functions of what was read (:class:`Readings`): the store's facts, the running terminal's status
(None when it does not answer), the host's disk and memory, the broker's TLS step, and the time. The UI
turns keys into words (``console.check.*`` and ``console.why.*`` in the message catalogue).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from edge.console.netdiag import Step
from edge.console.store import StoreFacts
from edge.settings import EdgeSettings
from edge.store.db import HEAD
from protocol.health import PRINTER_FAULTS, READER_FAULTS

__all__ = ["Check", "HostFigures", "Level", "Readings", "judge"]

OUTBOX_AMBER = timedelta(minutes=10)  # a case this old and unsent: the link has trouble
OUTBOX_RED = timedelta(hours=1)  # the centre has not seen a resident's case for an hour
CERT_AMBER = timedelta(days=30)  # time enough to renew the broker's certificate before terminals go dark
CLOCK_AMBER_S, CLOCK_RED_S = 2.0, 30.0  # receipts and due dates carry the terminal's time
RTT_AMBER_S, RTT_RED_S = 1.0, 5.0


class Level(enum.StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the overview: ``key`` names it (``console.check.<key>``), ``value`` is language-free (a
    figure) or a tuple of message keys (states, shown in words joined by " / "), ``why`` is the reason's key
    (``console.why.<why>``) filled with ``fields``, where a tuple of message keys is shown in words joined
    by "、"."""

    key: str
    level: Level
    value: str | tuple[str, ...]
    why: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostFigures:
    disk_free_mb: float
    disk_total_mb: float
    mem_available_pct: float


@dataclass(frozen=True, slots=True)
class Readings:
    settings: EdgeSettings
    store: StoreFacts
    status: dict[str, Any] | None  # the running terminal's control status; None: it does not answer
    host: HostFigures
    tls: Step | None
    now: datetime


def _age(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "-"
    s = max(0, int((now - then).total_seconds()))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def judge(r: Readings) -> list[Check]:
    """Every overview check, in the order shown."""
    return [
        _terminal(r),
        _schema(r),
        _link(r),
        _tls(r),
        _last_ack(r),
        _round_trip(r),
        _outbox(r),
        _parked(r),
        _alarms(r),
        _devices(r),
        _disk(r),
        _memory(r),
        _clock(r),
    ]


def _terminal(r: Readings) -> Check:
    if r.status is None:
        return Check("terminal", Level.RED, "-", "not_running")
    up = int(r.status["uptime_s"])
    return Check("terminal", Level.GREEN, f"{up // 86400}d {up % 86400 // 3600}h{up % 3600 // 60:02d}m", "running")


def _schema(r: Readings) -> Check:
    if r.store.schema == HEAD:
        return Check("schema", Level.GREEN, HEAD, "schema_ok")
    return Check("schema", Level.RED, str(r.store.schema), "schema_other", {"head": HEAD})


def _link(r: Readings) -> Check:
    if r.status is None:
        return Check("link", Level.RED, "-", "not_running")
    link, hub = r.status["link"], r.status.get("hub_online")
    value = (f"console.link_state.{link}",)
    if link == "online" and hub is not False:
        return Check("link", Level.GREEN, value, "online")
    if link == "online":
        return Check("link", Level.AMBER, value, "hub_offline")
    return Check("link", Level.AMBER if link == "connecting" else Level.RED, value, f"link_{link}")


def _tls(r: Readings) -> Check:
    if r.settings.broker_tls_ca is None:
        return Check("tls", Level.AMBER, "-", "no_tls")
    if r.tls is None or not r.tls.ok:
        return Check("tls", Level.RED, "-", "tls_failed", {"detail": r.tls.detail if r.tls else ""})
    expires = r.tls.expires
    if expires is None:
        return Check("tls", Level.AMBER, r.tls.detail, "tls_no_expiry")
    days = (expires - r.now).days
    level = Level.RED if expires <= r.now else Level.AMBER if expires - r.now < CERT_AMBER else Level.GREEN
    return Check(
        "tls", level, f"{expires:%Y-%m-%d}", "cert_expired" if level is Level.RED else "cert_days", {"days": days}
    )


def _last_ack(r: Readings) -> Check:
    at_text = (r.status or {}).get("last_ack_at")
    at = datetime.fromisoformat(at_text) if at_text else r.store.last_ack_at
    value = _age(r.now, at)
    if r.store.outbox.depth == 0:
        return Check("last_ack", Level.GREEN, value, "nothing_waiting")
    oldest = r.store.outbox.oldest_unsent_at
    waited = r.now - max(t for t in (at, oldest) if t is not None) if (at or oldest) else timedelta(0)
    if waited > OUTBOX_RED:
        return Check("last_ack", Level.RED, value, "no_recent_ack")
    why = "acks_coming" if at is not None else "no_ack_yet"
    return Check("last_ack", Level.AMBER if waited > OUTBOX_AMBER else Level.GREEN, value, why)


def _round_trip(r: Readings) -> Check:
    rtt = (r.status or {}).get("round_trip_s")
    if rtt is None:
        return Check("round_trip", Level.AMBER, "-", "no_ack_yet")
    level = Level.GREEN if rtt < RTT_AMBER_S else Level.AMBER if rtt < RTT_RED_S else Level.RED
    return Check("round_trip", level, f"{rtt * 1000:.0f} ms", f"rtt_{level}")


def _outbox(r: Readings) -> Check:
    st = r.store.outbox
    value = f"{st.depth}"
    if st.depth == 0:
        return Check("outbox", Level.GREEN, value, "outbox_empty")
    age = r.now - st.oldest_unsent_at if st.oldest_unsent_at else timedelta(0)
    fields = {"age": _age(r.now, st.oldest_unsent_at), "receipt": r.store.oldest_receipt or "-"}
    if st.depth >= r.settings.outbox_limit * 0.8 or age > OUTBOX_RED:
        return Check("outbox", Level.RED, value, "outbox_stuck", fields)
    return Check("outbox", Level.AMBER if age > OUTBOX_AMBER else Level.GREEN, value, "outbox_sending", fields)


def _parked(r: Readings) -> Check:
    n = r.store.outbox.parked
    return Check("parked", Level.RED if n else Level.GREEN, str(n), "parked_some" if n else "parked_none")


def _alarms(r: Readings) -> Check:
    kinds = sorted(r.store.alarms)
    if not kinds:
        return Check("alarms", Level.GREEN, "0", "alarms_none")
    return Check(
        "alarms", Level.RED, str(len(kinds)), "alarms_some", {"kinds": tuple(f"console.alarm.{k}" for k in kinds)}
    )


def _devices(r: Readings) -> Check:
    """The card reader and the printer as the fleet page judges them (the same states stop a resident)."""
    devices = (r.status or {}).get("devices") or {}
    if not r.status or not r.status.get("devices_held") or not devices:
        return Check("devices", Level.AMBER, "-", "devices_unknown")
    reader, printer = str(devices.get("reader", "unknown")), str(devices.get("printer", "unknown"))
    value = (f"console.device_state.{reader}", f"console.device_state.{printer}")
    faults = ("console.devices.reader",) * (reader in READER_FAULTS) + ("console.devices.printer",) * (
        printer in PRINTER_FAULTS
    )
    if faults:
        return Check("devices", Level.RED, value, "devices_fault", {"which": faults})
    if printer == "paper_low":
        return Check("devices", Level.AMBER, value, "devices_paper_low")
    return Check("devices", Level.GREEN, value, "devices_ok")


def _disk(r: Readings) -> Check:
    free, floor = r.host.disk_free_mb, r.settings.min_free_disk_mb
    value = f"{free:,.0f} MB"
    if free < floor:
        return Check("disk", Level.RED, value, "disk_full", {"floor": f"{floor:.0f}"})
    return Check(
        "disk", Level.AMBER if free < 2 * floor else Level.GREEN, value, "disk_room", {"floor": f"{floor:.0f}"}
    )


def _memory(r: Readings) -> Check:
    pct = r.host.mem_available_pct
    level = Level.RED if pct < 5 else Level.AMBER if pct < 15 else Level.GREEN
    return Check("memory", level, f"{pct:.0f}%", f"memory_{level}")


def _clock(r: Readings) -> Check:
    offset = (r.status or {}).get("hub_clock_offset_s")
    if offset is None:
        return Check("clock", Level.AMBER, "-", "clock_unknown")
    a = abs(offset)
    level = Level.GREEN if a < CLOCK_AMBER_S else Level.AMBER if a < CLOCK_RED_S else Level.RED
    # terminal minus hub, as the fleet page and the night say it: a clock 5 minutes slow is -300 s, and "slow"
    ahead = -offset
    way = "" if level is Level.GREEN else "_slow" if ahead < 0 else "_fast"
    return Check("clock", level, f"{ahead:+.1f} s", f"clock_{level}{way}")
