"""What the hub does with the messages it receives: validate, commit, and say what to publish after.

Kept apart from MQTT so the same code runs under the broker, in the benchmark and in tests. Several
messages may share one transaction (group commit: one fsync for many batches); the caller publishes
the returned replies, and PUBACKs the messages, only after :meth:`Handler.handle_many` returned — i.e.
after the commit. Case events among the replies (:class:`Events`) go out through
:class:`hub.cases.delivery.EventDelivery`, which sends them again until the broker has them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from nacl.public import PrivateKey
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import Promise
from hub.cases.lookup import HolderLookup
from hub.cases.routing import Routes
from hub.db.models import CaseEventRow, CaseRow, DeadLetter, RatingRow
from hub.ingest.metrics import IngestMetrics
from hub.ingest.terminals import Terminals
from protocol import idnumber, topics
from protocol.cases import Ack, AckBody, CaseBatch, CaseEvent, CaseStatus, CaseSubmission, Rejection
from protocol.codec import decode_for_topic
from protocol.envelope import DeadLetterReason, Envelope, MessageType, ProtocolError, utcnow
from protocol.health import Heartbeat
from protocol.ratings import RatingBatch
from protocol.sealed import Opener, SealError
from protocol.state import Birth, Death

__all__ = ["Events", "Handler", "Incoming", "Outgoing", "Reply"]

log = logging.getLogger(__name__)
Incoming = tuple[str, bytes, datetime]
Outgoing = tuple[str, bytes]


class Events(NamedTuple):
    """Committed case events for one terminal, to hand to the event delivery (not a message yet)."""

    terminal: str
    events: list[CaseEvent]


Reply = Outgoing | Events
_cases, _events, _dead, _ratings = CaseRow.__table__, CaseEventRow.__table__, DeadLetter.__table__, RatingRow.__table__
_DEAD_PAYLOAD_MAX = 64 * 1024


class Handler:
    def __init__(
        self,
        engine: Engine,
        router: Routes,
        metrics: IngestMetrics,
        skew_alert_s: float = 300.0,
        promise: Callable[[str, datetime], Promise | None] = lambda item, at: None,
        *,
        case_key: PrivateKey,
    ) -> None:
        """``router``: the department of an item (in a hub, by the catalogue in force); ``promise``: the
        working days promised and the due date of a case of an item received at a time
        (:meth:`hub.calendar.duedates.DueDates.promise`); ``case_key``: the hub's private case key
        (:mod:`hub.casekey`), which opens sealed cases."""
        self.engine = engine
        self.opener = Opener(case_key)
        self.router = router
        self.metrics = metrics
        self.skew_alert_s = skew_alert_s
        self.promise = promise
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self.terminals = Terminals(self._insert, metrics)
        # Extension points (fleet, catalogue): per message type, called in the transaction after the built-in
        # handling; each returns replies to publish after the commit.
        self.hooks: dict[MessageType, list[Callable[[Connection, Envelope, datetime], list[Outgoing]]]] = {}
        # Terminals' lookup keys (protocol.lookup): holder keys in case acks, and the answer to a request.
        self.lookup = HolderLookup(case_key)
        self.hooks[MessageType.LOOKUP_REQUEST] = [self.lookup.on_request]

    def handle(self, topic: str, payload: bytes, received_at: datetime | None = None) -> list[Reply]:
        """Commit what one message says; return the messages and events to publish now that it is committed."""
        return self.handle_many([(topic, payload, received_at or utcnow())])

    def handle_many(self, messages: Sequence[Incoming]) -> list[Reply]:
        """Commit what several messages say in one transaction; return the replies to publish.

        Decoding and opening the sealed cases come first, outside the transaction, so the database is
        held only for the writing."""
        decoded: list[Envelope | ProtocolError] = []
        for topic, payload, _ in messages:
            try:
                decoded.append(decode_for_topic(topic, payload))
            except ProtocolError as exc:
                decoded.append(exc)
        opened = self._open([m for m in decoded if isinstance(m, CaseBatch)])
        out: list[Reply] = []
        with self.engine.begin() as conn:
            for (topic, payload, at), message in zip(messages, decoded, strict=True):
                out += self._one(conn, topic, payload, at, message, opened)
        return out

    def _open(self, batches: list[CaseBatch]) -> dict[int, CaseSubmission | SealError]:
        """Each sealed case of ``batches`` opened (or why not), by ``id()`` of its SealedCase."""
        opened: dict[int, CaseSubmission | SealError] = {}
        for box in (case for batch in batches for case in batch.body.cases):
            try:
                opened[id(box)] = self.opener.open(box)
            except SealError as exc:
                opened[id(box)] = exc
        return opened

    def _one(
        self,
        conn: Connection,
        topic: str,
        payload: bytes,
        at: datetime,
        message: Envelope | ProtocolError,
        opened: dict[int, CaseSubmission | SealError],
    ) -> list[Reply]:
        if isinstance(message, ProtocolError):
            return self._refuse(conn, topic, payload, message, at)
        self.metrics.messages.labels(message.type.value).inc()
        out = self._dispatch(conn, message, at, opened)
        for hook in self.hooks.get(message.type, ()):
            try:
                with conn.begin_nested():  # a failing hook is rolled back alone: the message's own work stands
                    out += hook(conn, message, at)
            except Exception:
                log.exception("%s hook on a %s from %s failed", hook, message.type.value, message.terminal)
        return out

    def _dispatch(
        self, conn: Connection, message: Envelope, at: datetime, opened: dict[int, CaseSubmission | SealError]
    ) -> list[Reply]:
        if isinstance(message, CaseBatch):
            return self._cases(conn, message, at, opened)
        if isinstance(message, RatingBatch):
            return self._ratings(conn, message, at)
        if isinstance(message, Birth):
            missed = self.terminals.birth(conn, message, at)
            return [Events(message.terminal, missed)] if missed else []
        if isinstance(message, Death):
            self.terminals.death(conn, message, at)
        elif isinstance(message, Heartbeat):
            self.terminals.heartbeat(conn, message, at)
        return []

    # ------------------------------------------------------------------ refusals
    def _refuse(self, conn: Connection, topic: str, payload: bytes, exc: ProtocolError, at: datetime) -> list[Reply]:
        terminal = None
        with contextlib.suppress(topics.TopicError):
            terminal = topics.parse(topic).terminal
        message_id = _peek_id(payload) if exc.reason is not DeadLetterReason.OVERSIZED else None
        self._dead_letter(conn, topic, terminal, exc.reason, exc.detail, payload, at, message_id=message_id)
        log.warning("dead letter from %s: %s", terminal or topic[:80], exc)
        if terminal is None or message_id is None or exc.reason is DeadLetterReason.TERMINAL_MISMATCH:
            return []
        rejection = Rejection(message_id=message_id, reason=exc.reason, detail=exc.detail[:300])
        return [self._ack(terminal, AckBody(rejected=[rejection], in_reply_to=message_id))]

    def _dead_letter(
        self,
        conn: Connection,
        topic: str,
        terminal: str | None,
        reason: DeadLetterReason,
        detail: str,
        payload: bytes,
        at: datetime,
        message_id: uuid.UUID | None = None,
        item_id: uuid.UUID | None = None,
    ) -> None:
        self.metrics.dead_letters.labels(reason.value).inc()
        conn.execute(
            insert(_dead).values(
                received_at=at,
                topic=topic[:256],
                terminal_id=terminal,
                reason=reason.value,
                detail=detail,
                message_id=str(message_id) if message_id else None,
                item_id=str(item_id) if item_id else None,
                size=len(payload),
                payload=payload[:_DEAD_PAYLOAD_MAX],
            )
        )

    # ------------------------------------------------------------------ cases
    def _cases(
        self, conn: Connection, batch: CaseBatch, at: datetime, opened: dict[int, CaseSubmission | SealError]
    ) -> list[Reply]:
        terminal = batch.terminal
        skew = (at - batch.sent_at).total_seconds()
        flagged = abs(skew) > self.skew_alert_s
        if flagged:
            self.metrics.clock_skew.inc()
            log.warning("terminal %s clock is off by %.0f s; hub receive time is kept", terminal, -skew)
        valid, rejected, rows = [], [], []
        up = topics.up(terminal, topics.Up.CASES)
        for sealed in batch.body.cases:
            case = opened[id(sealed)]
            if isinstance(case, SealError):
                reason = DeadLetterReason.SEALED_INVALID
                raw = sealed.model_dump_json().encode()
                self._dead_letter(conn, up, terminal, reason, str(case), raw, at, batch.id, sealed.case_id)
                rejected.append(Rejection(item_id=sealed.case_id, reason=reason, detail=str(case)[:300]))
                continue
            payload = case.model_dump_json()
            try:
                idnumber.validate(case.applicant.id_number, today=at.date())
            except idnumber.InvalidIdNumber as exc:
                detail = f"case {case.receipt_no}: {exc}"
                reason = DeadLetterReason.INVALID_ID_NUMBER
                self._dead_letter(conn, up, terminal, reason, detail, payload.encode(), at, batch.id, case.case_id)
                rejected.append(Rejection(item_id=case.case_id, reason=reason, detail=detail))
                continue
            valid.append(case.case_id)
            promise = self.promise(case.item_code, at)
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
                    "due_date": promise.due if promise else None,
                    "promised_days": promise.days if promise else None,
                    "updated_at": at,
                    "payload": payload,
                }
            )
        fresh: list[dict[str, Any]] = []
        if rows:
            # Which are new: asked first, so the insert needs no RETURNING (psycopg then pipelines it).
            # Two workers racing on one case both insert-or-ignore; the loser's event insert then hits
            # the (case_id, version) key, its group is retried, and the retry sees the case as known.
            known = set(
                conn.execute(
                    select(_cases.c.case_id).where(_cases.c.case_id.in_([r["case_id"] for r in rows]))
                ).scalars()
            )
            fresh = [r for r in rows if r["case_id"] not in known]
            if fresh:
                conn.execute(self._insert(_cases).on_conflict_do_nothing(index_elements=["case_id"]), fresh)
        events = self._first_events(conn, fresh, at)
        if fresh:
            # One audit entry per received batch: it names every new case and the hash of what arrived.
            cases = [
                [r["case_id"], r["receipt_no"], r["item_code"], r["department"], _sha(r["payload"])] for r in fresh
            ]
            append(conn, [AuditRecord(at, f"terminal:{terminal}", "cases.received", str(batch.id), {"cases": cases})])
        self.terminals.seen(conn, terminal, at, batch.seq, skew)
        self.metrics.cases.inc(len(fresh))
        self.metrics.duplicates.inc(len(rows) - len(fresh))
        holder_keys = self.lookup.holder_keys(terminal, rows)  # new and known cases alike
        ack = AckBody(acked=valid, rejected=rejected, in_reply_to=batch.id, holder_keys=holder_keys)
        out: list[Reply] = [self._ack(terminal, ack)]
        if events:
            out.append(Events(terminal, events))
        return out

    def _first_events(self, conn: Connection, fresh: list[dict[str, Any]], at: datetime) -> list[CaseEvent]:
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
        if conn.dialect.name == "postgresql":  # ids from the sequence, then a pipelined insert
            seq = conn.execute(
                text("SELECT nextval(pg_get_serial_sequence('case_events', 'id')) FROM generate_series(1, :n)"),
                {"n": len(rows)},
            ).scalars()
            for row, eid in zip(rows, seq, strict=True):
                row["id"] = eid
            conn.execute(insert(_events), rows)
            ids = [(r["id"], r["case_id"]) for r in rows]
        else:
            ids = [tuple(r) for r in conn.execute(insert(_events).returning(_events.c.id, _events.c.case_id), rows)]
        by_case = {r["case_id"]: r for r in fresh}
        return [
            CaseEvent.model_construct(  # made here from validated rows: no second validation per case
                event_id=eid,
                case_id=uuid.UUID(cid),
                version=1,
                status=CaseStatus.SUBMITTED,
                at=at,
                department=by_case[cid]["department"],
                due_date=by_case[cid]["due_date"],
            )
            for eid, cid in ids
        ]

    def _ratings(self, conn: Connection, batch: RatingBatch, at: datetime) -> list[Reply]:
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
        conn.execute(self._insert(_ratings).on_conflict_do_nothing(index_elements=["rating_id"]), rows)
        self.terminals.seen(conn, batch.terminal, at, batch.seq, (at - batch.sent_at).total_seconds())
        acked = [r.rating_id for r in batch.body.ratings]
        return [self._ack(batch.terminal, AckBody(acked=acked, in_reply_to=batch.id))]

    # ------------------------------------------------------------------ replies
    def _ack(self, terminal: str, body: AckBody) -> Outgoing:
        return topics.down(terminal, topics.Down.ACKS), Ack(terminal=terminal, body=body).encode()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _peek_id(payload: bytes) -> uuid.UUID | None:
    """The message id of a refused payload, if it has a readable one (to name it in the rejection)."""
    try:
        raw = json.loads(payload)
        value = raw.get("id") if isinstance(raw, dict) else None
        return uuid.UUID(str(value)) if value else None
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
