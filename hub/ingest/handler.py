"""What the hub does with one message: validate, commit, and say what to publish after the commit.

Kept apart from MQTT so the same code runs under the broker, in the benchmark and in tests. The caller
publishes the returned messages only after :meth:`Handler.handle` returned, i.e. after the commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.audit.chain import AuditRecord, append
from hub.cases.routing import Router
from hub.db.models import CaseEventRow, CaseRow, DeadLetter, RatingRow, TerminalRow
from hub.ingest.metrics import IngestMetrics
from protocol import idnumber, topics
from protocol.cases import (
    Ack,
    AckBody,
    CaseBatch,
    CaseEvent,
    CaseEvents,
    CaseEventsBody,
    CaseStatus,
    Rejection,
)
from protocol.codec import decode_for_topic
from protocol.envelope import DeadLetterReason, ProtocolError, utcnow
from protocol.health import Heartbeat
from protocol.ratings import RatingBatch
from protocol.state import Birth, Death

__all__ = ["Handler", "Outgoing"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]
_cases, _events, _dead, _terms = (
    CaseRow.__table__,
    CaseEventRow.__table__,
    DeadLetter.__table__,
    TerminalRow.__table__,
)
_ratings = RatingRow.__table__
_DEAD_PAYLOAD_MAX = 64 * 1024
_RESYNC_CHUNK = 500


class Handler:
    def __init__(
        self,
        engine: Engine,
        router: Router,
        metrics: IngestMetrics,
        skew_alert_s: float = 300.0,
        due_date: Callable[[str, datetime], date | None] = lambda item, at: None,
    ) -> None:
        self.engine = engine
        self.router = router
        self.metrics = metrics
        self.skew_alert_s = skew_alert_s
        self.due_date = due_date
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def handle(self, topic: str, payload: bytes, received_at: datetime | None = None) -> list[Outgoing]:
        """Commit what ``payload`` says; return the messages to publish now that it is committed."""
        received_at = received_at or utcnow()
        try:
            message = decode_for_topic(topic, payload)
        except ProtocolError as exc:
            return self._refuse(topic, payload, exc, received_at)
        self.metrics.messages.labels(message.type.value).inc()
        if isinstance(message, CaseBatch):
            return self._cases(message, received_at)
        if isinstance(message, RatingBatch):
            return self._ratings(message, received_at)
        if isinstance(message, Birth):
            return self._birth(message, received_at)
        if isinstance(message, Death):
            self._death(message, received_at)
        elif isinstance(message, Heartbeat):
            self._heartbeat(message, received_at)
        return []

    # ------------------------------------------------------------------ refusals
    def _refuse(self, topic: str, payload: bytes, exc: ProtocolError, at: datetime) -> list[Outgoing]:
        terminal = None
        with contextlib.suppress(topics.TopicError):
            terminal = topics.parse(topic).terminal
        message_id = _peek_id(payload) if exc.reason is not DeadLetterReason.OVERSIZED else None
        with self.engine.begin() as conn:
            self._dead_letter(conn, topic, terminal, exc.reason, exc.detail, payload, at, message_id=message_id)
        log.warning("dead letter from %s: %s", terminal or topic[:80], exc)
        if terminal is None or message_id is None or exc.reason is DeadLetterReason.TERMINAL_MISMATCH:
            return []
        rejection = Rejection(message_id=uuid.UUID(message_id), reason=exc.reason, detail=exc.detail[:300])
        return [self._ack(terminal, AckBody(rejected=[rejection], in_reply_to=uuid.UUID(message_id)))]

    def _dead_letter(
        self,
        conn: Connection,
        topic: str,
        terminal: str | None,
        reason: DeadLetterReason,
        detail: str,
        payload: bytes,
        at: datetime,
        message_id: str | None = None,
        item_id: str | None = None,
    ) -> None:
        self.metrics.dead_letters.labels(reason.value).inc()
        conn.execute(
            insert(_dead).values(
                received_at=at,
                topic=topic[:256],
                terminal_id=terminal,
                reason=reason.value,
                detail=detail,
                message_id=message_id,
                item_id=item_id,
                size=len(payload),
                payload=payload[:_DEAD_PAYLOAD_MAX],
            )
        )

    # ------------------------------------------------------------------ cases
    def _cases(self, batch: CaseBatch, at: datetime) -> list[Outgoing]:
        terminal = batch.terminal
        skew = (at - batch.sent_at).total_seconds()
        flagged = abs(skew) > self.skew_alert_s
        if flagged:
            self.metrics.clock_skew.inc()
            log.warning("terminal %s clock is off by %.0f s; hub receive time is kept", terminal, -skew)
        valid, rejected, rows = [], [], []
        with self.engine.begin() as conn:
            for case in batch.body.cases:
                try:
                    idnumber.validate(case.applicant.id_number, today=at.date())
                except idnumber.InvalidIdNumber as exc:
                    detail = f"case {case.receipt_no}: {exc}"
                    self._dead_letter(
                        conn,
                        topics.up(terminal, topics.Up.CASES),
                        terminal,
                        DeadLetterReason.INVALID_ID_NUMBER,
                        detail,
                        case.model_dump_json().encode(),
                        at,
                        str(batch.id),
                        str(case.case_id),
                    )
                    rejected.append(
                        Rejection(item_id=case.case_id, reason=DeadLetterReason.INVALID_ID_NUMBER, detail=detail)
                    )
                    continue
                valid.append(case.case_id)
                rows.append(
                    {
                        "case_id": str(case.case_id),
                        "terminal_id": terminal,
                        "committee": case.committee,
                        "receipt_no": case.receipt_no,
                        "query_code": case.query_code,
                        "item_code": case.item_code,
                        "department": self.router.department(case.item_code),
                        "status": CaseStatus.SUBMITTED.value,
                        "version": 1,
                        "id_number": case.applicant.id_number,
                        "applicant_name": case.applicant.name,
                        "created_at": case.created_at,
                        "sent_at": batch.sent_at,
                        "received_at": at,
                        "clock_skew_s": skew if flagged else None,
                        "due_date": self.due_date(case.item_code, at),
                        "updated_at": at,
                        "payload": case.model_dump_json(),
                    }
                )
            new_ids: set[str] = set()
            if rows:
                stmt = (
                    self._insert(_cases).on_conflict_do_nothing(index_elements=["case_id"]).returning(_cases.c.case_id)
                )
                new_ids = set(conn.execute(stmt, rows).scalars())
            fresh = [r for r in rows if r["case_id"] in new_ids]
            events = self._first_events(conn, fresh, at)
            if fresh:
                append(
                    conn,
                    [
                        AuditRecord(
                            at,
                            f"terminal:{terminal}",
                            "case.received",
                            r["case_id"],
                            {
                                "receipt_no": r["receipt_no"],
                                "item": r["item_code"],
                                "department": r["department"],
                            },
                        )
                        for r in fresh
                    ],
                )
            self._seen(conn, terminal, at, seq=batch.seq, skew=skew)
        self.metrics.cases.inc(len(fresh))
        self.metrics.duplicates.inc(len(rows) - len(fresh))
        out = [self._ack(terminal, AckBody(acked=valid, rejected=rejected, in_reply_to=batch.id))]
        if events:
            out.append(self._events(terminal, events))
        return out

    def _first_events(self, conn: Connection, fresh: list[dict[str, object]], at: datetime) -> list[CaseEvent]:
        if not fresh:
            return []
        rows = [
            {
                "case_id": r["case_id"],
                "terminal_id": r["terminal_id"],
                "version": 1,
                "status": CaseStatus.SUBMITTED.value,
                "at": at,
                "actor": "hub",
                "note": "",
                "department": r["department"],
            }
            for r in fresh
        ]
        ids = conn.execute(insert(_events).returning(_events.c.id, _events.c.case_id), rows).all()
        by_case = {r["case_id"]: r for r in fresh}
        return [
            CaseEvent(
                event_id=eid,
                case_id=uuid.UUID(cid),
                version=1,
                status=CaseStatus.SUBMITTED,
                at=at,
                department=str(by_case[cid]["department"]),
                due_date=by_case[cid]["due_date"],
            )  # type: ignore[arg-type]
            for eid, cid in ids
        ]

    def _ratings(self, batch: RatingBatch, at: datetime) -> list[Outgoing]:
        rows = [
            {
                "rating_id": str(r.rating_id),
                "case_id": str(r.case_id) if r.case_id else None,
                "terminal_id": batch.terminal,
                "committee": r.committee,
                "receipt_no": r.receipt_no,
                "item_code": r.item_code,
                "department": self.router.department(r.item_code) if r.item_code else "",
                "level": int(r.level),
                "reason": r.reason,
                "rated_at": r.rated_at,
                "received_at": at,
            }
            for r in batch.body.ratings
        ]
        with self.engine.begin() as conn:
            conn.execute(self._insert(_ratings).on_conflict_do_nothing(index_elements=["rating_id"]), rows)
            self._seen(conn, batch.terminal, at, seq=batch.seq)
        acked = [r.rating_id for r in batch.body.ratings]
        return [self._ack(batch.terminal, AckBody(acked=acked, in_reply_to=batch.id))]

    # ------------------------------------------------------------------ terminals
    def _terminal(self, conn: Connection, terminal: str) -> dict[str, object]:
        row = conn.execute(select(_terms).where(_terms.c.terminal_id == terminal)).mappings().first()
        if row is None:
            conn.execute(self._insert(_terms).values(terminal_id=terminal).on_conflict_do_nothing())
            row = conn.execute(select(_terms).where(_terms.c.terminal_id == terminal)).mappings().one()
        return dict(row)

    def _seen(
        self, conn: Connection, terminal: str, at: datetime, seq: int | None = None, skew: float | None = None
    ) -> None:
        t = self._terminal(conn, terminal)
        values: dict[str, object] = {"last_seen_at": at}
        if skew is not None:
            values["clock_skew_s"] = round(skew, 3)
        if seq is not None:
            if t["last_seq"] and seq > int(t["last_seq"]) + 1:  # type: ignore[call-overload]
                self.metrics.seq_gaps.inc()
                values["seq_gaps"] = int(t["seq_gaps"]) + 1  # type: ignore[call-overload]
            values["last_seq"] = max(seq, int(t["last_seq"]))  # type: ignore[call-overload]
        conn.execute(update(_terms).where(_terms.c.terminal_id == terminal).values(**values))

    def _birth(self, birth: Birth, at: datetime) -> list[Outgoing]:
        with self.engine.begin() as conn:
            t = self._terminal(conn, birth.terminal)
            if birth.body.bd_seq < int(t["bd_seq"]):  # type: ignore[call-overload]
                log.info(
                    "stale birth of %s ignored (bd_seq %d < %s)",
                    birth.terminal,
                    birth.body.bd_seq,
                    t["bd_seq"],
                )
                return []
            conn.execute(
                update(_terms)
                .where(_terms.c.terminal_id == birth.terminal)
                .values(
                    online=True,
                    bd_seq=birth.body.bd_seq,
                    last_seq=birth.seq,
                    last_birth_at=at,
                    last_seen_at=at,
                    app_version=birth.body.app_version,
                    catalogue_version=birth.body.catalogue_version,
                    clock_skew_s=round((at - birth.sent_at).total_seconds(), 3),
                )
            )
            missed = (
                conn.execute(
                    select(_events)
                    .where(_events.c.terminal_id == birth.terminal, _events.c.id > birth.body.events_watermark)
                    .order_by(_events.c.id)
                )
                .mappings()
                .all()
            )
        log.info("birth of %s (bd_seq %d); %d event(s) to resync", birth.terminal, birth.body.bd_seq, len(missed))
        events = [
            CaseEvent(
                event_id=e["id"],
                case_id=uuid.UUID(e["case_id"]),
                version=e["version"],
                status=CaseStatus(e["status"]),
                at=e["at"],
                note=e["note"],
                department=e["department"],
            )
            for e in missed
        ]
        return [
            self._events(birth.terminal, events[i : i + _RESYNC_CHUNK]) for i in range(0, len(events), _RESYNC_CHUNK)
        ]

    def _death(self, death: Death, at: datetime) -> None:
        with self.engine.begin() as conn:
            t = self._terminal(conn, death.terminal)
            if death.body.bd_seq != t["bd_seq"]:
                self.metrics.late_wills.inc()
                log.info(
                    "late will of %s ignored (bd_seq %d, live session %s)",
                    death.terminal,
                    death.body.bd_seq,
                    t["bd_seq"],
                )
                return
            conn.execute(
                update(_terms).where(_terms.c.terminal_id == death.terminal).values(online=False, last_seen_at=at)
            )
        log.warning("terminal %s went offline", death.terminal)

    def _heartbeat(self, hb: Heartbeat, at: datetime) -> None:
        with self.engine.begin() as conn:
            self._terminal(conn, hb.terminal)
            conn.execute(
                update(_terms)
                .where(_terms.c.terminal_id == hb.terminal)
                .values(
                    last_seen_at=at,
                    health=hb.body.model_dump_json(),
                    app_version=hb.body.app_version,
                    catalogue_version=hb.body.catalogue_version,
                    clock_skew_s=round((at - hb.sent_at).total_seconds(), 3),
                )
            )

    # ------------------------------------------------------------------ replies
    def _ack(self, terminal: str, body: AckBody) -> Outgoing:
        return topics.down(terminal, topics.Down.ACKS), Ack(terminal=terminal, body=body).encode()

    def _events(self, terminal: str, events: list[CaseEvent]) -> Outgoing:
        msg = CaseEvents(terminal=terminal, seq=events[-1].event_id, body=CaseEventsBody(events=events))
        return topics.down(terminal, topics.Down.EVENTS), msg.encode()


def _peek_id(payload: bytes) -> str | None:
    """The message id of a refused payload, if it has a readable one (to name it in the rejection)."""
    try:
        raw = json.loads(payload)
        value = raw.get("id") if isinstance(raw, dict) else None
        return str(uuid.UUID(str(value))) if value else None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
