"""Nightly reconciliation: the terminal and the hub check that they hold the same cases, both ways.

The exchange, on ``up/reconcile`` and ``down/reconcile`` (the broker's ACL already confines a terminal to
its own), each request with a fresh correlation id that its reply repeats:

1. The terminal sends a :class:`ReconcileRequest` with one :class:`DayDigest` per local day (Asia/Shanghai,
   by the case's ``created_at``) of its window: how many items it holds of that day and the SHA-256 of
   their sorted lines (:func:`item_line`: ``c:<case id>:<latest event version>`` per case,
   ``r:<rating id>`` per rating). A day is 64 hex characters and two numbers, however busy it was.
2. The hub computes the same digest over what it holds *from that terminal* and answers with a
   :class:`ReconcileReply`: the days that agree (``confirmed``) and the days that differ (``differ``).
3. For the days that differ the terminal sends its lines (``items``); the hub answers with what it lacks
   (``missing``: the terminal sends those again from its sealed copy), the events the terminal lacks
   (``events``, also applied by the terminal's nightly run), and what it holds that the terminal never
   sent (``unknown``, reported). ``held`` lists the terminal's items the hub has, so the terminal marks
   them reconciled: only a reconciled case may ever be purged at the terminal. ``ahead`` lists the cases
   the terminal holds newer events of than the hub (the hub restored from an older backup lost them), each
   as the hub's line (``c:<case id>:<the hub's version>``).
4. For those the terminal sends the events it holds past the hub's version (``events``); the hub stores
   the ones it lacks and moves the case on to the newest, and answers with the lines it now holds.

Pure: no I/O.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from protocol.cases import CaseEvent
from protocol.envelope import Envelope, Int64, MessageType, Strict
from protocol.localtime import LOCAL_TZ

__all__ = [
    "DAY_ZONE",
    "MAX_DAYS",
    "MAX_EVENTS_UP",
    "MAX_ITEMS",
    "DayDigest",
    "DayItems",
    "NightReport",
    "NightReportBody",
    "NightStep",
    "ReconcileReply",
    "ReconcileReplyBody",
    "ReconcileRequest",
    "ReconcileRequestBody",
    "ReconcileStatus",
    "case_line",
    "day_digest",
    "day_of",
    "rating_line",
]

DAY_ZONE = LOCAL_TZ  # the days both sides count in
MAX_DAYS = 400
MAX_ITEMS = 5000
"""Lines of one message; a terminal with more to list sends several requests."""
MAX_EVENTS_UP = 1000
"""Events a terminal sends back in one request (round 3)."""
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LINE = rf"^(c:{_UUID}:\d{{1,9}}|r:{_UUID})$"
Line = Annotated[str, Field(pattern=_LINE)]


def day_of(at: datetime) -> date:
    """The local day (Asia/Shanghai) an item belongs to, the same on both sides."""
    return at.astimezone(DAY_ZONE).date()


def case_line(case_id: str, version: int) -> str:
    return f"c:{case_id}:{version}"


def rating_line(rating_id: str) -> str:
    return f"r:{rating_id}"


def day_digest(lines: Iterable[str]) -> str:
    """SHA-256 (hex) of the sorted lines, each ended by a newline."""
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line.encode("ascii") + b"\n")
    return h.hexdigest()


class DayDigest(Strict):
    day: date
    count: Int64 = Field(ge=0)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")


class DayItems(Strict):
    day: date
    items: list[Line] = Field(default_factory=list, description="the day's lines (see case_line, rating_line)")


class ReconcileRequestBody(Strict):
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="repeated in the reply")
    first_day: date = Field(description="the window's first day: the hub compares every day from it to last_day")
    last_day: date
    digests: list[DayDigest] = Field(default_factory=list, max_length=MAX_DAYS, description="round 1")
    items: list[DayItems] = Field(default_factory=list, max_length=MAX_DAYS, description="round 2: days that differ")
    events: list[CaseEvent] = Field(
        default_factory=list, max_length=MAX_EVENTS_UP, description="round 3: events the hub lacks (its reply's ahead)"
    )


class ReconcileRequest(Envelope):
    message_type: ClassVar[MessageType] = MessageType.RECONCILE_REQUEST
    type: Literal[MessageType.RECONCILE_REQUEST] = MessageType.RECONCILE_REQUEST
    body: ReconcileRequestBody


class ReconcileStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"


class ReconcileReplyBody(Strict):
    correlation_id: uuid.UUID
    status: ReconcileStatus = ReconcileStatus.OK
    error: str = Field(default="", max_length=300)
    confirmed: list[date] = Field(default_factory=list, description="days whose digests agree")
    differ: list[date] = Field(default_factory=list, description="days whose digests differ: send their items")
    held: list[str] = Field(default_factory=list, description="items of the terminal's that the hub holds")
    missing: list[uuid.UUID] = Field(default_factory=list, description="cases and ratings the hub lacks: send again")
    events: list[CaseEvent] = Field(default_factory=list, description="events of cases the terminal is behind on")
    unknown: list[uuid.UUID] = Field(
        default_factory=list, description="cases the hub holds from this terminal that the terminal never listed"
    )
    ahead: list[str] = Field(
        default_factory=list,
        description="cases the terminal holds newer events of than the hub, as the hub's lines: send the events after",
    )
    audit_last_id: Int64 = Field(
        default=0, ge=0, description="to an audit segment: the terminal's last entry the hub holds, chain unbroken"
    )


class ReconcileReply(Envelope):
    message_type: ClassVar[MessageType] = MessageType.RECONCILE_REPLY
    type: Literal[MessageType.RECONCILE_REPLY] = MessageType.RECONCILE_REPLY
    body: ReconcileReplyBody


class NightStep(Strict):
    """One step of a nightly run as reported: its name, whether it held, its counts and duration."""

    name: str = Field(max_length=64)
    ok: bool
    seconds: float = Field(ge=0)
    counts: dict[str, Int64] = Field(default_factory=dict)
    error: str = Field(default="", max_length=300)


class NightReportBody(Strict):
    started_at: AwareDatetime
    seconds: float = Field(ge=0)
    ok: bool
    steps: list[NightStep] = Field(default_factory=list, max_length=64)


class NightReport(Envelope):
    """A terminal's nightly result, for its fleet page (sent on ``up/reconcile`` at the end of the night)."""

    message_type: ClassVar[MessageType] = MessageType.NIGHT_REPORT
    type: Literal[MessageType.NIGHT_REPORT] = MessageType.NIGHT_REPORT
    body: NightReportBody
