"""What the hub does with the messages it receives: validate, commit, and say what to publish after.

Kept apart from MQTT so the same code runs under the broker, in the benchmark and in tests. Several
messages may share one transaction (group commit: one fsync for many batches); the caller publishes
the returned replies, and PUBACKs the messages, only after :meth:`Handler.handle_many` returned — i.e.
after the commit. Case events among the replies (:class:`Events`) go out through
:class:`hub.cases.delivery.EventDelivery`, which sends them again until the broker has them.

Whatever a terminal sends ends as committed work or as a dead letter (:mod:`hub.ingest.deadletters`),
with a rejection back when the message can be named. A case is taken only from a terminal in the
register (:mod:`hub.ingest.register`), for the committee it is registered to, with a receipt number no
other case of that committee holds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from itertools import chain, islice
from typing import Any, NamedTuple, Protocol

from nacl.public import PrivateKey
from sqlalchemy import Connection, Engine, Table, select, text
from sqlalchemy.exc import DBAPIError

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import Promise, count_due, promise_start
from hub.calendar.service import CalendarService
from hub.cases import returncalls
from hub.cases.arrival import case_row
from hub.cases.eventtag import EventTags
from hub.cases.lookup import HolderLookup
from hub.cases.messages import DONE_ON_SPOT_NOTE
from hub.cases.routing import Routes
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, RatingRow, table
from hub.ingest import register
from hub.ingest.deadletters import DeadLetters, Letter
from hub.ingest.metrics import IngestMetrics
from hub.ingest.terminals import Mark, Terminals
from kernel.db import among, deadlocked, loggable, transaction_lock, upsert_insert
from protocol import idnumber, topics
from protocol.cases import Ack, AckBody, CaseBatch, CaseEvent, CaseStatus, CaseSubmission, Rejection, SealedCase
from protocol.codec import decode_for_topic
from protocol.envelope import DeadLetterReason, Envelope, MessageType, ProtocolError, utcnow
from protocol.localtime import local_date
from protocol.ratings import BAD_LEVELS, Rating, RatingBatch
from protocol.sealed import Opener, SealError
from protocol.state import Death
from protocol.workdays import WorkCalendar

__all__ = ["Checked", "Events", "Handler", "Incoming", "Outgoing", "Prepared", "Reply"]

log = logging.getLogger(__name__)
Outgoing = tuple[str, bytes]


class Incoming(NamedTuple):
    """One message as received. ``limited``: over its terminal's rate, to be set aside unprocessed, standing
    also for ``also`` more of its terminal's that were over the rate and dropped on arrival (the worker)."""

    topic: str
    payload: bytes
    received_at: datetime
    limited: bool = False
    also: int = 0


class Events(NamedTuple):
    """Committed case events for one terminal, to hand to the event delivery (not a message yet)."""

    terminal: str
    events: list[CaseEvent]


class Checked(NamedTuple):
    """A case batch as far as it is checked without the database (:meth:`Handler.prepare`): its cases opened,
    their ID numbers validated, routed and promised, and made rows."""

    rows: list[dict[str, Any]]  # the cases that opened with a valid ID number, as ``cases`` rows
    refused: list[tuple[SealedCase, DeadLetterReason, str]]  # the others, with why
    sealed_of: dict[str, SealedCase]  # case id -> the case as it travelled
    on_spot: dict[str, str]  # case id -> who finished it on the spot (当场办结)
    digests: dict[str, str]  # case id -> SHA-256 of its payload (the audit entry names it)
    holder_keys: dict[uuid.UUID, str]  # case id -> its holder key, for the ack


class Prepared(NamedTuple):
    """Messages decoded, and their case batches checked (by ``id()`` of each CaseBatch): :meth:`Handler.prepare`."""

    incoming: list[Incoming]
    decoded: list[Envelope | ProtocolError | None]
    checked: dict[int, Checked]
    calendar: WorkCalendar | None = None  # the calendar in force when the due dates were counted


Reply = Outgoing | Events
# Handled in batches, at most one message per terminal each (Handler._batches), in this order.
_BATCHED = (MessageType.HEARTBEAT, MessageType.BIRTH, MessageType.CATALOGUE_REPORT)
_cases, _events, _ratings, _work = table(CaseRow), table(CaseEventRow), table(RatingRow), table(CaseWorkRow)
_DONE = CaseStatus.COMPLETED.value
_ID = re.compile(rb'"id"\s*:\s*"([0-9A-Fa-f-]{32,36})"')
_TAKEN_ID = "its case id is another case's at the hub"  # a conflict's detail: nothing of the other case
_LOG_EVERY_S = 10.0  # refusals of one terminal are logged at most this often (a flood is one line, not 2,000)


class PromiseOf(Protocol):
    """:meth:`hub.calendar.duedates.DueDates.promise`, as ingest asks it."""

    def __call__(self, item_code: str, start: datetime, /, *, item_hash: str | None = None) -> Promise | None: ...


class Handler:
    def __init__(
        self,
        engine: Engine,
        router: Routes,
        metrics: IngestMetrics,
        skew_alert_s: float = 300.0,
        promise: PromiseOf = lambda item, at, item_hash=None: None,
        *,
        case_key: PrivateKey,
        dead_letter_prefix_bytes: int = 2048,
        dead_letters_per_terminal: int = 1000,
        return_call_due: Callable[[datetime], date] | None = None,
        open_processes: int = 0,
        calendar: CalendarService | None = None,
    ) -> None:
        """``router``: the department of an item (in a hub, by the catalogue in force); ``promise``: the
        working days promised and the due date of a case of an item received at a time
        (:meth:`hub.calendar.duedates.DueDates.promise`); ``case_key``: the hub's private case key
        (:mod:`hub.casekey`), which opens sealed cases; ``return_call_due``: the deadline of a return call
        a bad rating received at a time opens (:meth:`hub.calendar.duedates.DueDates.after_working_days`;
        by default counted on weekends alone); ``open_processes``: processes that open a group's sealed cases
        beside this one (:class:`~protocol.sealed.Opener`); ``calendar``: the calendar ``promise`` counts on,
        whose edits committed between a group's counting and its transaction are counted on again."""
        self.engine = engine
        self.opener = Opener(case_key, processes=open_processes)
        self.router = router
        self.metrics = metrics
        self.skew_alert_s = skew_alert_s
        self.promise = promise
        self.return_call_due = return_call_due or _weekdays_after
        self.calendar = calendar
        self._insert = upsert_insert(engine)
        self.terminals = Terminals(self._insert, metrics)
        self.dead = DeadLetters(self._insert, metrics, dead_letter_prefix_bytes, dead_letters_per_terminal)
        self._logged: dict[str, tuple[float, int]] = {}  # terminal -> (last refusal logged, refusals since)
        # Extension points (fleet, catalogue): per message type, called in the transaction after the built-in
        # handling; each returns replies to publish after the commit.
        self.hooks: dict[MessageType, list[Callable[[Connection, Envelope, datetime], list[Outgoing]]]] = {}
        # Heartbeats (the steady load: one per terminal every few seconds), births and catalogue reports (a
        # fleet reconnecting at once, a catalogue rolled out) of a group are handled together (_BATCHED): one
        # write of ``terminals`` for the heartbeats or the births, then each of these hooks is called once
        # with all of them (and ``hooks`` of that type still once per message).
        self.batch_hooks: dict[MessageType, list[Callable[[Connection, list[Any]], list[Outgoing]]]] = {}
        # Terminals' lookup keys (protocol.lookup): holder keys in case acks, and the answer to a request.
        self.lookup = HolderLookup(case_key)
        # Tags on the events sent to terminals, so that their copies can be told from forgeries (reconciliation).
        self.event_tags = EventTags(case_key)
        self.hooks[MessageType.LOOKUP_REQUEST] = [self.lookup.on_request]

    def handle(self, topic: str, payload: bytes, received_at: datetime | None = None) -> list[Reply]:
        """Commit what one message says; return the messages and events to publish now that it is committed."""
        return self.handle_many([(topic, payload, received_at or utcnow())])

    def prepare(self, messages: Sequence[Incoming | tuple[str, bytes, datetime]]) -> Prepared:
        """Decode ``messages``, open their sealed cases and check them (:class:`Checked`): the part of
        :meth:`handle_many` that needs no transaction. A worker prepares its next group in a thread of its
        own while the group before commits: the key agreement that opening each case takes runs in the
        opening processes, and this thread's Python runs while the committing one waits for the server. A
        message marked ``limited`` is not decoded: it is dead-lettered as ``rate_limited``."""
        # In the terminals' order (each terminal's messages in their own): every worker, and the fleet's
        # evaluation round, then take the rows of terminals in one order, and none waits on another in a cycle.
        incoming = sorted(
            (m if isinstance(m, Incoming) else Incoming(*m) for m in messages),
            key=lambda m: topics.sender(m.topic) or "",
        )
        decoded: list[Envelope | ProtocolError | None] = [
            None if m.limited else _decode(m.topic, m.payload) for m in incoming
        ]
        batches = [(m, i.received_at) for m, i in zip(decoded, incoming, strict=True) if isinstance(m, CaseBatch)]
        # Opened as they come: each batch is checked while the opening processes decipher the ones after it.
        opened = self.opener.open_each([case for batch, _ in batches for case in batch.body.cases])
        calendar = self.calendar.calendar() if self.calendar is not None else None  # before any is counted
        checked = {id(batch): self._check(batch, at, opened) for batch, at in batches}
        return Prepared(incoming, decoded, checked, calendar)

    def handle_many(self, messages: Sequence[Incoming | tuple[str, bytes, datetime]] | Prepared) -> list[Reply]:
        """Commit what several messages say in one transaction; return the replies to publish.

        Decoding and opening the sealed cases come first (:meth:`prepare`, unless ``messages`` are prepared
        already), outside the transaction, so the database is held only for the writing."""
        prepared = messages if isinstance(messages, Prepared) else self.prepare(messages)
        try:
            return self._transaction(prepared, guarded=False)
        except _HookFailed as failed:
            # Hooks run bare (a savepoint and its release are two round trips per message and hook: an eighth
            # of ingest's time at a fleet's mass connect). When one fails the group is done again, each hook
            # in a savepoint of its own, so that only the failing one is rolled back (and logged).
            log.info("%s; the group again, each hook in a savepoint", failed)
            return self._transaction(prepared, guarded=True)

    def _transaction(self, prepared: Prepared, guarded: bool) -> list[Reply]:
        """:meth:`handle_many`'s transaction; ``guarded``: each hook in a savepoint (see :func:`_hooked`)."""
        incoming, decoded, checked, counted_on = prepared
        out: list[Reply] = []
        self.dead.discard()
        group = _Group(guarded)
        with self.metrics.held(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # psycopg prepares a statement run five times; the server may then keep one generic plan
                # for it, chosen while the tables were small (a sequential scan: right for an empty
                # ``cases``, ruinous once it holds thousands of rows, as a fresh hub's soon does). The
                # lookups of a group are planned for the tables as they are.
                conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            if self.calendar is not None and (in_force := self.calendar.in_force(conn)) is not counted_on:
                _count_again(checked, in_force)  # an edit committed since: count on it (before the rows' locks)
            self.terminals.lock(conn, {t for m in incoming if (t := topics.sender(m.topic))})
            self._read_ahead(conn, decoded, checked, group)
            # Messages of the batched types not handled yet, by type and terminal (see _batches).
            pending: dict[MessageType, dict[str, tuple[Envelope, datetime]]] = {kind: {} for kind in _BATCHED}
            waiting: set[str] = set()  # terminals with a message pending
            for m, message in zip(incoming, decoded, strict=True):
                batched = isinstance(message, Envelope) and message.type in _BATCHED
                if waiting and (
                    topics.sender(m.topic) in waiting
                    or not (batched or isinstance(message, CaseBatch | ProtocolError | None))
                ):
                    # A terminal's messages are handled in order; and the hooks of deaths and the like (fleet
                    # rows) come after the heartbeats, births and reports of the terminals before them.
                    out += self._batches(conn, pending, group)
                    waiting.clear()
                if batched:
                    assert isinstance(message, Envelope)
                    self.metrics.count(self.metrics.messages.labels(message.type.value))
                    pending[message.type][message.terminal] = (message, m.received_at)
                    waiting.add(message.terminal)
                    continue
                if message is None:
                    out += self._limited(conn, m)
                    continue
                if not isinstance(message, CaseBatch | Death | ProtocolError):
                    self._flush(conn, group)  # what it reads (cases, events) is written first
                out += self._one(conn, m.topic, m.payload, m.received_at, message, checked, group)
            self._flush(conn, group)
            out += self._batches(conn, pending, group)
            self.terminals.known(conn, self.dead.settle(conn))
        # Counted once committed: a group the database aborted (and that is tried again) counts nothing.
        self.metrics.cases.inc(group.stored)
        self.metrics.duplicates.inc(group.again)
        return out

    def poison(self, topic: str, payload: bytes, at: datetime, why: str) -> list[Reply]:
        """Set aside a message the hub failed on twice for no known reason (``processing_failed``), in a
        transaction of its own; return the rejection to publish, when the message can be named."""
        terminal, message_id = topics.sender(topic), _peek_id(payload)
        self.metrics.poison.inc()
        self.dead.discard()
        with self.metrics.held(), self.engine.begin() as conn:
            reason = DeadLetterReason.PROCESSING_FAILED
            self.dead.record(Letter(topic, terminal, reason, why, payload, at, message_id))
            self.terminals.known(conn, self.dead.settle(conn))
        log.error("message on %s set aside as poison after failing twice: %s", topic[:120], why)
        if terminal is None or message_id is None:
            return []
        rejection = Rejection(message_id=message_id, reason=reason, detail=why[:300])
        return [self._ack(terminal, AckBody(rejected=[rejection], in_reply_to=message_id))]

    def _read_ahead(
        self,
        conn: Connection,
        decoded: list[Envelope | ProtocolError | None],
        checked: dict[int, Checked],
        group: _Group,
    ) -> None:
        """What the group's case batches need to know before they take a case, asked once for the whole
        group (four queries, not four per batch): the cases already stored, the receipt numbers their
        committees hold, the committee each sending terminal is registered to, and where its message
        sequence stands. Asked after the terminals' rows are locked; the group keeps them up to date as it
        takes cases (:meth:`_Group.add`, :meth:`Terminals.seen`)."""
        rows = [r for batch in checked.values() for r in batch.rows]
        if not rows:
            return
        ids = [r["case_id"] for r in rows]
        stored = select(_cases.c.case_id, _cases.c.terminal_id, _cases.c.receipt_no, _cases.c.printed_receipt_no)
        for cid, t, r, printed in conn.execute(stored.where(among(conn, _cases.c.case_id, ids))):
            group.known[cid] = (t, printed or r)  # as the terminal sent it
            if printed:
                group.renumbered[cid] = r
        receipts = sorted({r["receipt_no"] for r in rows})
        held = select(_cases.c.committee, _cases.c.receipt_no, _cases.c.case_id)
        for committee, receipt, case_id in conn.execute(held.where(among(conn, _cases.c.receipt_no, receipts))):
            group.held[(committee, receipt)] = case_id
        senders = sorted({m.terminal for m in decoded if isinstance(m, CaseBatch)})
        group.committees = register.committees_of(conn, senders)
        group.marks = self.terminals.marks(conn, senders)

    def close(self) -> None:
        """Stop the opening processes, if any."""
        self.opener.close()

    def _one(
        self,
        conn: Connection,
        topic: str,
        payload: bytes,
        at: datetime,
        message: Envelope | ProtocolError,
        checked: dict[int, Checked],
        group: _Group,
    ) -> list[Reply]:
        if isinstance(message, ProtocolError):
            return self._refuse(conn, topic, payload, message, at)
        self.metrics.count(self.metrics.messages.labels(message.type.value))
        out = self._dispatch(conn, message, at, checked, group)
        for hook in self.hooks.get(message.type, ()):
            out += _hooked(conn, hook, (message, at), f"a {message.type.value} from {message.terminal}", group.guarded)
        return out

    def _dispatch(
        self,
        conn: Connection,
        message: Envelope,
        at: datetime,
        checked: dict[int, Checked],
        group: _Group,
    ) -> list[Reply]:
        if isinstance(message, CaseBatch):
            return self._cases(conn, message, at, checked[id(message)], group)
        if isinstance(message, RatingBatch):
            return self._ratings(conn, message, at, group)
        if isinstance(message, Death):
            self.terminals.death(conn, message, at)
        return []

    def _batches(
        self, conn: Connection, pending: dict[MessageType, dict[str, tuple[Envelope, datetime]]], group: _Group
    ) -> list[Reply]:
        """Handle the pending messages of each batched type (at most one per terminal) together: heartbeats
        and births each one write of their terminals' rows (births: answered with the events each terminal
        missed), then the type's batch hooks once for all, and its per-message hooks for each; empties
        ``pending``. A failing hook is rolled back alone, for the whole batch: the terminals' rows stand."""
        out: list[Reply] = []
        for kind, messages in pending.items():
            if not messages:
                continue
            # In the terminals' order: rows are taken in one order by every worker (and the evaluator).
            batch: list[Any] = [messages[t] for t in sorted(messages)]
            messages.clear()
            if kind is MessageType.HEARTBEAT:
                self.terminals.heartbeats(conn, batch)
            elif kind is MessageType.BIRTH:
                self._flush(conn, group)  # the group's new cases and events first: a birth reads what was missed
                for birth, _ in batch:
                    group.marks.pop(birth.terminal, None)  # a new session's sequence: read afresh after it
                out += [Events(t, missed) for t, missed in self.terminals.births(conn, batch).items() if missed]
            for hook in self.batch_hooks.get(kind, ()):
                out += _hooked(conn, hook, (batch,), f"{len(batch)} {kind.value}(s)", group.guarded)
            if singles := self.hooks.get(kind):  # most batched types have none: no walk over the batch
                for message, at in batch:
                    for single in singles:
                        on = f"a {kind.value} from {message.terminal}"
                        out += _hooked(conn, single, (message, at), on, group.guarded)
        return out

    # ------------------------------------------------------------------ refusals
    def _refuse(self, conn: Connection, topic: str, payload: bytes, exc: ProtocolError, at: datetime) -> list[Reply]:
        terminal = topics.sender(topic)
        message_id = _peek_id(payload)
        self.dead.record(Letter(topic, terminal, exc.reason, exc.detail, payload, at, message_id))
        self._log_refusal(terminal or topic[:80], str(exc))
        if terminal is None or message_id is None or exc.reason is DeadLetterReason.TERMINAL_MISMATCH:
            return []
        rejection = Rejection(message_id=message_id, reason=exc.reason, detail=exc.detail[:300])
        return [self._ack(terminal, AckBody(rejected=[rejection], in_reply_to=message_id))]

    def _limited(self, conn: Connection, m: Incoming) -> list[Reply]:
        """A message over its terminal's rate (with ``m.also`` more dropped on arrival): recorded, not
        processed (counted in ``shegong_hub_rate_limited`` where it arrived). The terminal is told, so that it
        keeps the batch and sends it again later (a terminal parks nothing for this reason)."""
        terminal, message_id = topics.sender(m.topic), _peek_id(m.payload)
        reason, detail = DeadLetterReason.RATE_LIMITED, "over the terminal's message rate; send it again later"
        if m.also:
            detail += f" ({m.also} more over the rate before it, dropped on arrival)"
        letter = Letter(m.topic, terminal, reason, detail, m.payload, m.received_at, message_id, also=m.also)
        self.dead.record(letter)
        self._log_refusal(terminal or m.topic[:80], f"{reason.value}: {detail}")
        if terminal is None or message_id is None:
            return []
        rejection = Rejection(message_id=message_id, reason=reason, detail=detail)
        return [self._ack(terminal, AckBody(rejected=[rejection], in_reply_to=message_id))]

    def _log_refusal(self, who: str, what: str) -> None:
        """One line per refusal, but at most one per ``_LOG_EVERY_S`` per sender, with the count between."""
        now = time.monotonic()
        last, since = self._logged.get(who, (0.0, 0))
        if now - last < _LOG_EVERY_S:
            self._logged[who] = (last, since + 1)
            return
        more = f" ({since} more refused since the last line)" if since else ""
        log.warning("dead letter from %s: %s%s", who, what[:300], more)
        self._logged[who] = (now, 0)
        if len(self._logged) > 10_000:
            self._logged.clear()

    # ------------------------------------------------------------------ cases
    def _check(self, batch: CaseBatch, at: datetime, opened: Iterator[CaseSubmission | SealError]) -> Checked:
        """What can be said of a batch's cases without the database (:meth:`prepare`): each opened (the next
        of ``opened``), its ID number valid, routed by the catalogue in force at ``at`` and promised by it (or by the
        item the terminal names, :meth:`hub.catalogue.in_force.CatalogueInForce.item_as_promised`), made a
        row."""
        terminal = batch.terminal
        skew = batch.clock_offset_s(at)
        flagged = abs(skew) > self.skew_alert_s
        if flagged:
            self.metrics.clock_skew.inc()
            log.warning("terminal %s clock is off by %.0f s; hub receive time is kept", terminal, -skew)
        checked = Checked([], [], {}, {}, {}, {})
        # An item's department is the same for every case, its promise for every case of one day: counted
        # once each, not once per case.
        departments: dict[str, str] = {}
        promises: dict[tuple[str, date, str | None], Promise | None] = {}
        today = local_date(at)
        ids: list[tuple[uuid.UUID, str]] = []
        for sealed, case in zip(batch.body.cases, islice(opened, len(batch.body.cases)), strict=True):
            if isinstance(case, SealError):
                checked.refused.append((sealed, DeadLetterReason.SEALED_INVALID, str(case)))
                continue
            try:
                idnumber.validate(case.applicant.id_number, today=today)
            except idnumber.InvalidIdNumber as exc:
                checked.refused.append((sealed, DeadLetterReason.INVALID_ID_NUMBER, f"case {case.receipt_no}: {exc}"))
                continue
            case_id = str(case.case_id)
            checked.sealed_of[case_id] = sealed
            department = departments.get(case.item_code)
            if department is None:
                department = departments[case.item_code] = self.router.department(case.item_code)
            start = promise_start(case.created_at, at, skew if flagged else None, sealed.clock_fix_s)
            key = (case.item_code, local_date(start), case.item_hash)
            if key not in promises:
                promises[key] = self.promise(case.item_code, start, item_hash=case.item_hash)
            promise = promises[key]
            if promise is not None and promise.done_on_spot:
                # 当场办结: finished at the kiosk by the committee, or by the staff member who did it (代办)
                checked.on_spot[case_id] = f"staff:{case.agent}" if case.agent else f"committee:{case.committee}"
            payload = case.model_dump_json()
            checked.digests[case_id] = _sha(payload)
            checked.rows.append(
                case_row(
                    case,
                    terminal,
                    department,
                    promise,
                    payload,
                    batch.sent_at,
                    at,
                    clock_skew_s=skew if flagged else None,
                    clock_fix_s=sealed.clock_fix_s,
                )
            )
            ids.append((sealed.case_id, case.applicant.id_number))
        checked.holder_keys.update(self.lookup.holder_keys(terminal, ids))
        return checked

    def _cases(self, conn: Connection, batch: CaseBatch, at: datetime, checked: Checked, group: _Group) -> list[Reply]:
        """Take a checked batch's new cases into ``group`` (written by :meth:`_flush`), refuse the rest; return
        its ack, and its first events (filled in when the group is written)."""
        terminal = batch.terminal
        up = topics.up(terminal, topics.Up.CASES)
        rejected: list[Rejection] = []

        def refuse(sealed: SealedCase, reason: DeadLetterReason, detail: str) -> None:
            # The case as it travelled, sealed: a dead letter never holds the opened case.
            raw = sealed.model_dump_json().encode()
            self.dead.record(Letter(up, terminal, reason, detail, raw, at, batch.id, sealed.case_id))
            rejected.append(Rejection(item_id=sealed.case_id, reason=reason, detail=detail[:300]))

        for refused in checked.refused:
            refuse(*refused)
        rows, sealed_of = checked.rows, checked.sealed_of
        # Which are new: known before the group (_read_ahead) or taken earlier in it. Two workers racing on one
        # case both insert-or-ignore; the loser's event insert then hits the (case_id, version) key, its group
        # is retried, and the retry sees the case as known.
        taken: list[dict[str, Any]] = []  # already here: acked again
        new: dict[str, dict[str, Any]] = {}  # by case id: a second case under one id in a batch is not new
        for r in rows:
            cid = r["case_id"]
            held = group.known.get(cid) or ((terminal, new[cid]["receipt_no"]) if cid in new else None)
            if held is None:
                new[cid] = r
            elif held != (terminal, r["receipt_no"]):  # another case under that id: acked, it would be lost
                refuse(sealed_of[cid], DeadLetterReason.CONFLICT, f"case {r['receipt_no']}: {_TAKEN_ID}")
            elif cid not in new:  # (the same case twice in one batch is taken once)
                taken.append(r)
        fresh: list[dict[str, Any]] = []
        for row, why in self._admit(conn, terminal, list(new.values()), group):
            if why is None:
                # a copy: the prepared row stays as it was for a retry of the group
                fresh.append(row if row["case_id"] not in checked.on_spot else {**row, "status": _DONE, "version": 2})
            else:
                refuse(sealed_of[row["case_id"]], *why)
        done = {r["case_id"]: checked.on_spot[r["case_id"]] for r in fresh if r["case_id"] in checked.on_spot}
        events: list[CaseEvent] = []  # filled in when the group is written
        if fresh:
            group.add(fresh, at, done, events, {r["case_id"]: sealed_of[r["case_id"]].case_id for r in fresh})
            # One audit entry per received batch: it names every new case and the hash of what arrived,
            # and those that arrived finished on the spot (当场办结).
            cases = [
                [r["case_id"], r["receipt_no"], r["item_code"], r["department"], checked.digests[r["case_id"]]]
                for r in fresh
            ]
            data: dict[str, Any] = {"cases": cases}
            if done:
                data["done_on_spot"] = sorted(done)
            if printed := {r["case_id"]: r["printed_receipt_no"] for r in fresh if r["printed_receipt_no"]}:
                data["renumbered"] = printed  # the number on each one's receipt
            group.audit.append(AuditRecord(at, f"terminal:{terminal}", "cases.received", str(batch.id), data))
        self.terminals.seen(conn, terminal, at, batch.seq, batch.clock_offset_s(at), group.marks)
        group.stored += len(fresh)
        group.again += len(taken)
        acked = [sealed_of[r["case_id"]].case_id for r in taken + fresh]
        ack = AckBody(
            acked=acked,
            rejected=rejected,
            in_reply_to=batch.id,
            holder_keys={case_id: checked.holder_keys[case_id] for case_id in acked},
            renumbered={
                sealed_of[r["case_id"]].case_id: group.renumbered[r["case_id"]]
                for r in taken + fresh
                if r["case_id"] in group.renumbered
            },
        )
        out: list[Reply] = [self._ack(terminal, ack)]
        if fresh:
            out.append(Events(terminal, events))
        return out

    def _admit(
        self, conn: Connection, terminal: str, rows: list[dict[str, Any]], group: _Group
    ) -> list[tuple[dict[str, Any], tuple[DeadLetterReason, str] | None]]:
        """Each new case with why it is refused (None: taken). The hub's own register says which committee
        the terminal serves, not the case; a receipt number names one case of its committee. A case whose
        number another case holds (its terminal gave it before and forgot it, :func:`hub_number`) is taken
        under a number of the hub's own, as a copy of its row naming the printed one."""
        committee = group.committees.get(terminal)
        if committee is None:
            why = f"terminal {terminal} is not in the hub's register (shegong hub terminal register)"
            return [(r, (DeadLetterReason.UNREGISTERED_TERMINAL, why)) for r in rows]
        held = group.held  # (committee, receipt) -> case id: stored before the group, or taken in it
        out: list[tuple[dict[str, Any], tuple[DeadLetterReason, str] | None]] = []
        for r in rows:
            receipt = r["receipt_no"]
            if r["committee"] != committee or not receipt.startswith(f"{committee}-"):
                why = (
                    f"case {receipt} names committee {r['committee']}; terminal {terminal} is registered to {committee}"
                )
                out.append((r, (DeadLetterReason.COMMITTEE_MISMATCH, why)))
            elif held.get((committee, receipt), r["case_id"]) != r["case_id"]:
                number = hub_number(conn, committee, receipt, r["case_id"], held)
                if number is None:
                    out.append((r, (DeadLetterReason.DUPLICATE_RECEIPT, f"receipt {receipt} belongs to another case")))
                    continue
                held[(committee, number)] = r["case_id"]
                group.renumbered[r["case_id"]] = number
                log.warning(
                    "case %s from %s taken as %s: its receipt number is another case's", r["case_id"], terminal, number
                )
                out.append(({**r, "receipt_no": number, "printed_receipt_no": receipt}, None))
            else:
                held[(committee, receipt)] = r["case_id"]  # a second case with it in this batch is refused too
                out.append((r, None))
        return out

    def _flush(self, conn: Connection, group: _Group) -> None:
        """Write what the group's case batches took: one statement per table for the whole group (the new
        cases, their first events, the work of cases done on the spot, the audit entries), then fill in
        each batch's events for its reply."""
        if not group.cases:
            return
        _insert_rows(conn, _cases, group.cases, conflict="case_id")
        work = [_done_work(r, group.done[r["case_id"]], at) for r, at in group.arrivals() if r["case_id"] in group.done]
        _insert_rows(conn, _work, work)
        rows = [row for r, at in group.arrivals() for row in _first_event_rows(r, at, group.done.get(r["case_id"]))]
        ids = _insert_rows(conn, _events, rows, returning=("id", "case_id", "version"))
        append(conn, group.audit)
        by_case = {r["case_id"]: (r, at, out) for fresh, at, out in group.batches for r in fresh}
        for eid, cid, version in sorted(ids):  # by event id: a case's first event before its second
            case, at, out = by_case[cid]
            second = version == 2
            status, note = (CaseStatus.COMPLETED, DONE_ON_SPOT_NOTE) if second else (CaseStatus.SUBMITTED, "")
            out.append(
                CaseEvent.model_construct(  # made here from validated rows: no second validation per case
                    event_id=eid,
                    case_id=group.ids[cid],
                    version=version,
                    status=status,
                    at=at,
                    note=note,
                    department=case["department"],
                    due_date=case["due_date"],
                    tag=self.event_tags.tag_of(cid, version, status.value, at, note),
                )
            )
        group.clear()

    def _ratings(self, conn: Connection, batch: RatingBatch, at: datetime, group: _Group) -> list[Reply]:
        """Take a batch's ratings of its own committee (the register's, as for cases), of that committee's cases,
        one per case (一事一评, as the terminal keeps it); refuse the others with a dead letter that leaves out
        the resident's words."""
        terminal, up = batch.terminal, topics.up(batch.terminal, topics.Up.RATINGS)
        committee = register.committees_of(conn, [terminal]).get(terminal)
        rated = [str(r.case_id) for r in batch.body.ratings if r.case_id]
        of_case: dict[str, tuple[str, str]] = {}  # case id -> its committee and the department holding it
        rating_of: dict[str, str] = {}  # case id -> its rating's id, held or taken in this batch
        if rated:
            known = select(_cases.c.case_id, _cases.c.committee, _cases.c.department).where(
                among(conn, _cases.c.case_id, rated)
            )
            of_case = {str(c): (str(m), str(d)) for c, m, d in conn.execute(known)}
            held = select(_ratings.c.case_id, _ratings.c.rating_id).where(among(conn, _ratings.c.case_id, rated))
            rating_of = {str(c): str(r) for c, r in conn.execute(held)}
        taken: list[Rating] = []
        rejected: list[Rejection] = []
        for r in batch.body.ratings:
            if committee is None:
                why = (DeadLetterReason.UNREGISTERED_TERMINAL, f"terminal {terminal} is not in the hub's register")
            elif r.committee != committee or of_case.get(str(r.case_id), (committee,))[0] != committee:
                why = (
                    DeadLetterReason.COMMITTEE_MISMATCH,
                    f"a rating for committee {r.committee} or its case; {terminal} is registered to {committee}",
                )
            elif r.case_id and rating_of.setdefault(str(r.case_id), str(r.rating_id)) != str(r.rating_id):
                why = (DeadLetterReason.CONFLICT, f"case {r.receipt_no or r.case_id} has a rating already")
            else:
                taken.append(self._opened(conn, batch, up, r, at) if r.sealed_reason else r)
                continue
            raw = r.model_dump_json(exclude={"reason"}).encode()
            self.dead.record(Letter(up, terminal, why[0], why[1], raw, at, batch.id, r.rating_id))
            rejected.append(Rejection(item_id=r.rating_id, reason=why[0], detail=why[1][:300]))
        skew = batch.clock_offset_s(at)
        self.terminals.seen(conn, terminal, at, batch.seq, skew, group.marks)
        if taken:  # a terminal clock far off: its ratings' times in the hub's time
            # A rating counts for the department holding its case (routed elsewhere than its item's, maybe).
            departments = {
                r.rating_id: of_case.get(str(r.case_id), ("", ""))[1]
                or (self.router.department(r.item_code) if r.item_code else "")
                for r in taken
            }
            self._take_ratings(conn, terminal, taken, departments, at, skew if abs(skew) > self.skew_alert_s else 0.0)
        acked = [r.rating_id for r in taken]
        return [self._ack(terminal, AckBody(acked=acked, rejected=rejected, in_reply_to=batch.id))]

    def _take_ratings(
        self,
        conn: Connection,
        terminal: str,
        ratings: list[Rating],
        departments: dict[uuid.UUID, str],
        at: datetime,
        skew_s: float,
    ) -> None:
        """Store ``ratings``, each for its department in ``departments`` (the one holding its case) and rated
        ``skew_s`` later than the terminal's clock said (the reports count a rating in the period it was made:
        a clock a year ahead would move it out of every report), and as stamped (reconciliation files it
        under the terminal's day, as the terminal does)."""
        shift = timedelta(seconds=skew_s)
        rows = [
            {
                "rating_id": str(r.rating_id),
                "case_id": str(r.case_id) if r.case_id else None,
                "terminal_id": terminal,
                "committee": r.committee,
                "receipt_no": r.receipt_no,
                "item_code": r.item_code,
                "department": departments[r.rating_id],
                "level": int(r.level),
                "reason": r.reason,
                "rated_at": r.rated_at + shift,
                "received_at": at,
                "stamped_at": r.rated_at,
            }
            for r in ratings
        ]
        conn.execute(self._insert(_ratings).on_conflict_do_nothing(index_elements=["rating_id"]), rows)
        if any(r.level in BAD_LEVELS for r in ratings):  # 差评: a return call for the department
            of_rating = {str(r.rating_id): departments[r.rating_id] for r in ratings if departments[r.rating_id]}
            returncalls.open_for(conn, ratings, of_rating, at, self.return_call_due(at))

    def _opened(self, conn: Connection, batch: RatingBatch, up: str, rating: Rating, at: datetime) -> Rating:
        """``rating`` with its sealed reason opened into ``reason`` (terminals seal it since ``sealed_reason``;
        an older one sent it in clear). A sealed reason the hub cannot open is dead-lettered as it travelled
        (``sealed_invalid``) and the rating kept without it: its level still counts, and sending the same
        bytes again could not help."""
        try:
            reason = self.opener.open_text(rating.sealed_reason, rating.rating_id)
        except SealError as exc:
            raw, why = rating.model_dump_json().encode(), DeadLetterReason.SEALED_INVALID
            self.dead.record(Letter(up, batch.terminal, why, str(exc), raw, at, batch.id, rating.rating_id))
            reason = ""
        return rating.model_copy(update={"reason": reason, "sealed_reason": ""})

    # ------------------------------------------------------------------ replies
    def _ack(self, terminal: str, body: AckBody) -> Outgoing:
        return topics.down(terminal, topics.Down.ACKS), Ack(terminal=terminal, body=body).encode()


class _Group:
    """What the case batches of one group took, written together at its end (:meth:`Handler._flush`)."""

    def __init__(self, guarded: bool = True) -> None:
        self.guarded = guarded  # each hook in a savepoint of its own (Handler._transaction)
        self.batches: list[tuple[list[dict[str, Any]], datetime, list[CaseEvent]]] = []  # new cases, arrival, events
        self.cases: list[dict[str, Any]] = []
        self.ids: dict[str, uuid.UUID] = {}  # case id as stored -> as a UUID, of the cases not written yet
        # Read ahead for the whole group (Handler._read_ahead), then kept up to date as it takes cases:
        self.known: dict[str, tuple[str, str]] = {}  # case id stored or taken -> its terminal and receipt number
        self.renumbered: dict[str, str] = {}  # case id stored or taken -> the hub's number for it, where it gave one
        self.held: dict[tuple[str, str], str] = {}  # (committee, receipt number) -> case id
        self.committees: dict[str, str] = {}  # sending terminal -> the committee it is registered to
        self.marks: dict[str, Mark] = {}  # sending terminal -> where its message sequence stands
        self.done: dict[str, str] = {}  # case id -> who finished it on the spot
        self.audit: list[AuditRecord] = []
        self.stored = self.again = 0  # new cases, and cases already stored (acked again): for the metrics

    def add(
        self,
        fresh: list[dict[str, Any]],
        at: datetime,
        done: dict[str, str],
        events: list[CaseEvent],
        ids: dict[str, uuid.UUID],
    ) -> None:
        self.batches.append((fresh, at, events))
        self.cases += fresh
        self.done.update(done)
        self.ids.update(ids)
        self.known.update((r["case_id"], (r["terminal_id"], r["printed_receipt_no"] or r["receipt_no"])) for r in fresh)

    def arrivals(self) -> list[tuple[dict[str, Any], datetime]]:
        return [(r, at) for fresh, at, _ in self.batches for r in fresh]

    def clear(self) -> None:
        self.batches, self.cases, self.audit = [], [], []
        self.ids, self.done = {}, {}


class _HookFailed(Exception):
    """A hook run without a savepoint failed: the group's transaction is given up and done again guarded."""


def _hooked(
    conn: Connection, hook: Callable[..., list[Outgoing]], args: tuple[Any, ...], on: str, guarded: bool = True
) -> list[Outgoing]:
    """Run an extension hook. ``guarded``: in a savepoint, so that a failing hook is rolled back alone and
    logged, and the message's own work stands; else bare, a failure giving up the whole transaction
    (:class:`_HookFailed`, which :meth:`Handler.handle_many` answers by doing the group again guarded). A
    deadlock is the server's verdict on the whole transaction, not the hook's: it fails the group, which
    the worker tries again, hook and all."""
    if not guarded:
        try:
            return hook(conn, *args)
        except Exception as exc:
            if deadlocked(exc):
                raise
            raise _HookFailed(f"{hook} hook on {on} failed") from exc
    try:
        with conn.begin_nested():
            return hook(conn, *args)
    except Exception as exc:
        if deadlocked(exc):
            raise
        log.error("%s hook on %s failed: %s", hook, on, loggable(exc))
        return []


def _insert_rows(
    conn: Connection,
    into: Table,
    rows: list[dict[str, Any]],
    conflict: str | None = None,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (all with the same keys) into ``into`` in one statement; skip rows whose ``conflict``
    column is taken; return the ``returning`` columns of the rows inserted.

    Through the driver's own cursor on the transaction's connection, with each column's bind processing
    done once per value: SQLAlchemy's ``executemany`` builds a parameter dictionary per row and walks it
    again, about half of the hub's writing on SQLite. On PostgreSQL the rows travel as one binary array per
    column, ``INSERT … SELECT * FROM unnest(…)``: a short statement that psycopg prepares once, where its
    ``executemany`` sends one statement per row and a multi-row ``VALUES`` is parsed again on every call.
    On SQLite, ``executemany`` (a loop in C), or multi-row ``VALUES`` when rows are to be returned."""
    if not rows:
        return []
    names = tuple(rows[0])
    tail = f" ON CONFLICT ({conflict}) DO NOTHING" if conflict else ""
    tail += f" RETURNING {', '.join(returning)}" if returning else ""
    postgresql = conn.dialect.name == "postgresql"
    key = (into.name, names, tail, postgresql)
    made = _STATEMENTS.get(key)
    if made is None:
        made = _STATEMENTS[key] = _statement(conn, into, names, tail, postgresql)
    head, row, processors = made
    sql = f"{head}{row}{tail}"
    dbapi = conn.connection.driver_connection
    try:
        if postgresql:
            # In binary: text arrays are quoted and escaped in Python, element by element.
            with dbapi.cursor(binary=True) as cur:  # type: ignore[union-attr]
                cur.execute(sql, {n: [r[n] for r in rows] for n in names})
                return [tuple(r) for r in cur.fetchall()] if returning else []
        columns = list(zip(names, processors, strict=True))
        params = [tuple([p(r[n]) if p else r[n] for n, p in columns]) for r in rows]
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            if not returning:
                cur.executemany(sql, params)
                return []
            out: list[tuple[Any, ...]] = []
            step = _SQLITE_VARIABLES // len(names)
            for start in range(0, len(params), step):
                chunk = params[start : start + step]
                sql = f"{head}{', '.join([row] * len(chunk))}{tail}"
                cur.execute(sql, list(chain.from_iterable(chunk)))
                out += [tuple(r) for r in cur.fetchall()]
            return out
        finally:
            cur.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy raises it (OperationalError for a lost server, a lock or a full disk, …): the worker
        # tells trouble with the storage from a bad message by these classes. A lost connection is
        # invalidated, as SQLAlchemy does, so that the pool does not hand it out again.
        lost = conn.dialect.is_disconnect(exc, dbapi, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True, connection_invalidated=lost
        ) from exc


def _statement(
    conn: Connection, into: Table, names: tuple[str, ...], tail: str, postgresql: bool
) -> tuple[str, str, list[Any]]:
    """The insert's SQL for the driver, as its head and one row (on SQLite, rows returned are sent as
    several rows of ``VALUES`` in one statement), and each column's bind processor (SQLite)."""
    columns = ", ".join(names)
    if postgresql:
        casts = ", ".join(f"%({n})b::{into.c[n].type.compile(dialect=conn.dialect)}[]" for n in names)
        return f"INSERT INTO {into.name} ({columns}) SELECT * FROM ", f"unnest({casts})", []
    processors = [into.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for n in names]
    return f"INSERT INTO {into.name} ({columns}) VALUES ", f"({', '.join('?' * len(names))})", processors


_STATEMENTS: dict[tuple[str, tuple[str, ...], str, bool], tuple[str, str, list[Any]]] = {}
_SQLITE_VARIABLES = 32_766  # bound parameters in one statement, at most (SQLite 3.32 and later)


def _first_event_rows(case: dict[str, Any], at: datetime, done_by: str | None) -> list[dict[str, Any]]:
    """A new case's first event (submitted); a case done on the spot (``done_by``: who did it) also its second
    (completed), with its ``case_work`` row: decided at arrival, in time."""
    first = {
        "case_id": case["case_id"],
        "terminal_id": case["terminal_id"],
        "version": 1,
        "status": CaseStatus.SUBMITTED.value,
        "at": at,
        "actor": "hub",
        "note": "",
        "department": case["department"],
    }
    if done_by is None:
        return [first]
    second = {**first, "version": 2, "status": CaseStatus.COMPLETED.value, "actor": done_by, "note": DONE_ON_SPOT_NOTE}
    return [first, second]


def _done_work(case: dict[str, Any], actor: str, at: datetime) -> dict[str, Any]:
    """The ``case_work`` row of a case done on the spot: accepted and decided at arrival, in time."""
    return {
        "case_id": case["case_id"],
        "department": case["department"],
        "item_code": case["item_code"],
        "assignee": actor,
        "accepted_at": at,
        "paused_days": 0,
        "notices": 0,
        "decided_at": at,
        "outcome": CaseStatus.COMPLETED.value,
        "processing_s": 0.0,
        "in_time": True,
        "statutory_in_time": True,
    }


def _count_again(checked: dict[int, Checked], calendar: WorkCalendar) -> None:
    """The promised and statutory due dates of the checked cases, counted again on ``calendar``."""
    for batch in checked.values():
        for row in batch.rows:
            start = promise_start(row["created_at"], row["received_at"], row["clock_skew_s"], row["clock_fix_s"])
            if row["promised_days"] is not None:
                row["due_date"] = count_due(start, int(row["promised_days"]), 0, calendar)
            if row["statutory_days"] is not None:
                row["statutory_due"] = count_due(start, int(row["statutory_days"]), 0, calendar)


def _weekdays_after(at: datetime) -> date:
    """A return call's deadline counted on weekends alone (a handler given no calendar)."""
    return count_due(at, returncalls.RETURN_CALL_DAYS, 0, WorkCalendar(years=[], source=""))


HUB_SERIES = "9"
"""The first digit of the six-digit sequences the hub gives (``JW001-20261207-937412``): no terminal's four- or
five-digit sequence reaches them on a real day."""
_HUB_SLOTS = 100_000
_RENUMBER_LOCK = 730_005  # PostgreSQL advisory lock: one hub number given at a time (730_004: calendar edits)


def hub_number(
    conn: Connection, committee: str, receipt: str, case_id: str, held: Mapping[tuple[str, str], str]
) -> str | None:
    """The hub's own number for case ``case_id`` of ``committee``, whose receipt number ``receipt`` another
    case holds: on the receipt's day, ``9`` and five digits drawn from the case id, or the next free after
    them (stored, or taken in this group: ``held``); None when all 100,000 are taken.

    Drawn from the case id, not the day's next: the same case is given the same number again — after a hub
    restored from an older backup lost it and its terminal sent it again, the number its SMS notices named
    is still its own (a review: the day's next went to another case). One at a time across ingest workers
    (a transaction lock), the database's unique key the last word."""
    transaction_lock(conn, _RENUMBER_LOCK)
    prefix = f"{committee}-{receipt.rsplit('-', 2)[1]}-{HUB_SERIES}"
    start = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big") % _HUB_SLOTS
    for step in range(_HUB_SLOTS):
        number = f"{prefix}{(start + step) % _HUB_SLOTS:05d}"
        if (committee, number) in held:
            continue
        stored = select(_cases.c.case_id).where(_cases.c.committee == committee, _cases.c.receipt_no == number)
        if conn.execute(stored).first() is None:
            return number
    return None


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _decode(topic: str, payload: bytes) -> Envelope | ProtocolError:
    try:
        return decode_for_topic(topic, payload)
    except ProtocolError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - decoding promises ProtocolError only; should it break that, refuse
        return ProtocolError(DeadLetterReason.SCHEMA_INVALID, f"unreadable payload ({type(exc).__name__})")


def _peek_id(payload: bytes) -> uuid.UUID | None:
    """The message id of a payload not (or not successfully) decoded, to name it in a rejection: looked for
    in its first KiB, where every envelope we encode has it, without parsing the rest."""
    found = _ID.search(payload[:1024])
    try:
        return uuid.UUID(found.group(1).decode()) if found else None
    except ValueError:
        return None
