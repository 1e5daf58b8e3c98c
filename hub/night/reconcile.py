"""The hub's side of nightly reconciliation (the exchange is in :mod:`protocol.reconcile`): an ingest hook
answering each :class:`ReconcileRequest` from what the hub holds *from that terminal*.

Round 1 (digests): the days that agree and the days that differ, over every day from the request's first
to its last — a day the hub has cases of and the terminal listed nothing for differs too. Round 2 (items):
what the hub holds of those lines, what it lacks (the terminal sends it again), the events of the cases the
terminal is behind on, what it holds that the terminal never listed (reported, and logged by count), and
the cases the terminal is *ahead* on (the hub restored from an older backup lost events it had made and
delivered). Round 3: the terminal sends those events back; the hub stores the ones it lacks (as already
delivered: the terminal has them) and moves each case on to the newest version, audited.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, and_, func, insert, or_, update
from sqlmodel import col, select

from hub.audit.chain import AuditRecord, append
from hub.cases.delivery import stored_events
from hub.cases.eventtag import EventTags
from hub.db.models import CaseEventRow, CaseRow, RatingRow
from protocol import topics
from protocol.cases import CaseEvent
from protocol.envelope import Envelope
from protocol.reconcile import (
    DAY_ZONE,
    DayItems,
    ReconcileReply,
    ReconcileReplyBody,
    ReconcileRequest,
    ReconcileStatus,
    case_line,
    day_digest,
    day_of,
    rating_line,
)

__all__ = ["MAX_EVENTS", "Reconciler"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]
MAX_EVENTS = 400
"""Events in one reply (each a few hundred bytes): a terminal further behind gets the rest the next night,
or from the hub's event delivery, which sends every unacknowledged event again anyway."""
_MAX_SPAN_DAYS = 3660
PAUSE_EVERY = 100


class Reconciler:
    """``on_request`` is the ingest hook for ``reconcile_request`` messages. ``pause`` is called every
    :data:`PAUSE_EVERY` rows read and every day compared: the night's lane (:mod:`hub.night.lane`) steps
    aside there while ingest has work, so a resident's case does not share the GIL with a digest."""

    def __init__(self, tags: EventTags, pause: Callable[[], None] | None = None) -> None:
        self.tags = tags  # events sent are tagged; only events with the hub's tag are restored (round 3)
        self.pause = pause or (lambda: None)
        self.missing = 0  #: items the last answer asked its terminal to send again

    def on_request(self, conn: Connection, message: Envelope, at: datetime) -> list[Outgoing]:
        if not isinstance(message, ReconcileRequest):
            return []
        body = message.body
        terminal = message.terminal
        topic = topics.down(terminal, topics.Down.RECONCILE)
        if body.last_day < body.first_day or (body.last_day - body.first_day).days > _MAX_SPAN_DAYS:
            reply = ReconcileReplyBody(
                correlation_id=body.correlation_id, status=ReconcileStatus.ERROR, error="impossible window"
            )
            return [(topic, ReconcileReply(terminal=terminal, body=reply).encode())]
        if body.events:
            genuine = [e for e in body.events if self.tags.genuine(e)]
            if forged := len(body.events) - len(genuine):
                _refused(conn, terminal, forged, at)
            reply = _restore(conn, terminal, body.correlation_id, genuine, at)
        elif body.items:
            days = [d.day for d in body.items]
            held = _lines(conn, terminal, min(days), max(days), self.pause)
            reply = _details(conn, body.correlation_id, body.items, held)
            reply = reply.model_copy(update={"events": self.tags.tagged(reply.events)})
        else:
            held = _lines(conn, terminal, body.first_day, body.last_day, self.pause)
            theirs = {d.day: d for d in body.digests}
            confirmed, differ = [], []
            for day in sorted(set(theirs) | set(held)):
                self.pause()
                if not body.first_day <= day <= body.last_day:
                    continue
                mine = held.get(day, {})
                if day in theirs and theirs[day].digest == day_digest(mine.values()):
                    confirmed.append(day)
                else:
                    differ.append(day)
            reply = ReconcileReplyBody(correlation_id=body.correlation_id, confirmed=confirmed, differ=differ)
        self.missing = len(reply.missing)
        if reply.missing or reply.unknown:
            log.warning(
                "reconciliation with %s: the hub lacks %d item(s), holds %d the terminal never listed",
                terminal,
                len(reply.missing),
                len(reply.unknown),
            )
        return [(topic, ReconcileReply(terminal=terminal, body=reply).encode())]


def _details(
    conn: Connection, correlation_id: uuid.UUID, items: list[DayItems], held: dict[date, dict[str, str]]
) -> ReconcileReplyBody:
    """Round 2: compare the terminal's lines of some days with the hub's (``held``: day → id → line)."""
    kept: list[str] = []
    missing: list[uuid.UUID] = []
    behind: dict[str, int] = {}
    ahead: list[str] = []
    listed: set[str] = set()
    for entry in items:
        mine = held.get(entry.day, {})
        for line in entry.items:
            kind, _, rest = line.partition(":")
            item_id, _, version = rest.partition(":")
            listed.add(item_id)
            ours = mine.get(item_id)
            if ours is None:
                missing.append(uuid.UUID(item_id))
                continue
            kept.append(line)
            if kind == "c" and int(ours.rsplit(":", 1)[1]) > int(version):
                behind[item_id] = int(version)
            elif kind == "c" and int(ours.rsplit(":", 1)[1]) < int(version):
                ahead.append(ours)
    # Only the days the terminal listed: the span between them holds days it did not send (they agreed).
    asked = {entry.day for entry in items}
    unknown = [uuid.UUID(i) for day, ids in held.items() if day in asked for i in ids if i not in listed]
    return ReconcileReplyBody(
        correlation_id=correlation_id,
        held=kept,
        missing=missing,
        events=_events(conn, behind),
        unknown=unknown,
        ahead=ahead,
    )


def _restore(
    conn: Connection, terminal: str, correlation_id: uuid.UUID, events: list[CaseEvent], at: datetime
) -> ReconcileReplyBody:
    """Round 3: store the events of ``terminal``'s cases the hub lacks and move each case on to its newest.

    Only cases of that terminal, only versions the hub does not hold (a version made here since the restore
    wins: it is the hub's own history). Restored events count as delivered — the terminal sent them."""
    ids = sorted({str(e.case_id) for e in events})
    cases = {
        r.case_id: r
        for r in conn.execute(
            select(CaseRow.case_id, CaseRow.version, CaseRow.department).where(
                col(CaseRow.case_id).in_(ids), CaseRow.terminal_id == terminal
            )
        )
    }
    held_versions = {
        (c, v)
        for c, v in conn.execute(
            select(CaseEventRow.case_id, CaseEventRow.version).where(col(CaseEventRow.case_id).in_(list(cases)))
        )
    }
    restored = 0
    newest: dict[str, CaseEvent] = {}
    for e in sorted(events, key=lambda e: (str(e.case_id), e.version)):
        case_id = str(e.case_id)
        case = cases.get(case_id)
        if case is None or (case_id, e.version) in held_versions:
            continue
        conn.execute(
            insert(CaseEventRow).values(
                case_id=case_id,
                terminal_id=terminal,
                version=e.version,
                status=e.status.value,
                at=e.at,
                actor="reconcile:terminal-copy",
                note=e.note,
                department=case.department or "",
                published_at=at,
            )
        )
        held_versions.add((case_id, e.version))
        restored += 1
        if e.version > max(case.version, newest[case_id].version if case_id in newest else 0):
            newest[case_id] = e
    for case_id, e in newest.items():
        conn.execute(
            update(CaseRow)
            .where(col(CaseRow.case_id) == case_id, col(CaseRow.version) < e.version)
            .values(version=e.version, status=e.status.value, updated_at=at)
        )
    if restored:
        log.warning("reconciliation with %s: %d event(s) the hub had lost restored from its copy", terminal, restored)
        append(
            conn,
            [AuditRecord(at, "hub", "reconcile.events_restored", terminal, {"events": restored, "cases": len(newest)})],
        )
    lines = [
        case_line(c, v)
        for c, v in conn.execute(select(CaseRow.case_id, CaseRow.version).where(col(CaseRow.case_id).in_(list(cases))))
    ]
    return ReconcileReplyBody(correlation_id=correlation_id, held=lines)


def _refused(conn: Connection, terminal: str, events: int, at: datetime) -> None:
    """Events a terminal sent back without the hub's tag: not restored, and said so (log and audit). An event
    stored at the terminal before tags existed has none, as has one a terminal made up."""
    log.warning("reconciliation with %s: %d event(s) without the hub's tag refused, not restored", terminal, events)
    append(conn, [AuditRecord(at, "hub", "reconcile.events_refused", terminal, {"events": events})])


def _events(conn: Connection, behind: dict[str, int]) -> list[CaseEvent]:
    """The events past the version the terminal has, of each case it is behind on (at most MAX_EVENTS)."""
    if not behind:
        return []
    newer = or_(
        *(and_(col(CaseEventRow.case_id) == c, col(CaseEventRow.version) > v) for c, v in list(behind.items())[:200])
    )
    return [event for _, event in stored_events(conn, newer, limit=MAX_EVENTS)]


def _lines(
    conn: Connection, terminal: str, first: date, last: date, pause: Callable[[], None]
) -> dict[date, dict[str, str]]:
    """What the hub holds from ``terminal`` in the days ``first`` to ``last``: day → item id → line."""
    start = datetime.combine(first, time(), DAY_ZONE)
    end = datetime.combine(last + timedelta(days=1), time(), DAY_ZONE)
    out: dict[date, dict[str, str]] = defaultdict(dict)
    cases = select(CaseRow.case_id, CaseRow.version, CaseRow.created_at).where(
        CaseRow.terminal_id == terminal, col(CaseRow.created_at) >= start, col(CaseRow.created_at) < end
    )
    for n, (case_id, version, created) in enumerate(conn.execute(cases)):
        if n % PAUSE_EVERY == 0:
            pause()
        out[day_of(_aware(created))][case_id] = case_line(case_id, version)
    # By the terminal's own stamp, as its ledger files it: a rating the hub re-dated (a clock far off) across
    # midnight was "missing" every night, resent, never confirmed, never purged.
    stamped = func.coalesce(RatingRow.stamped_at, RatingRow.rated_at)
    ratings = select(RatingRow.rating_id, stamped).where(
        RatingRow.terminal_id == terminal, stamped >= start, stamped < end
    )
    for rating_id, rated in conn.execute(ratings):
        out[day_of(_aware(rated))][rating_id] = rating_line(rating_id)
    return dict(out)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
