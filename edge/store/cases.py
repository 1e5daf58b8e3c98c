"""Accepting a case at the terminal: one SQLite transaction writes the case and its outbox row.

The receipt number (committee code, local date, local sequence) and the query code are made here,
offline, so the receipt prints at once whatever the state of the VPN. The sequence starts with the
terminal's receipt series when it has one (``receipt_series``), so each terminal of a committee makes
numbers of its own: ``JW001-20261204-0007`` alone, ``JW001-20261204-20007`` as series 2.

A number is never handed out twice, even when the storage forgets: an SD card that reports a write done while
it is still in its cache loses the last seconds before a power cut, and with them cases the hub may already
hold. So after a run that did not end cleanly (:meth:`CaseStore.numbering_resumes`), and whenever the hub
refuses a case's number as another case's (:meth:`CaseStore.numbers_held_elsewhere`), today's numbers move
:data:`NUMBERS_AHEAD` on: a gap in the day's numbers costs nothing, a number given to two residents parks the
second one's case.

A holder's cases are found by ``holder_key``, ``HMAC(K, id_number)`` under the lookup key ``K`` the
hub gives this terminal on each connect (:mod:`protocol.lookup`). ``K`` lives in this object's memory
only: nothing on the disk lets a thief test an ID number against the stored cases. Until ``K`` is here
(a restart during an outage) a new case is stored with an empty holder key — its ack brings the key —
and a holder's history cannot be listed (:class:`LookupUnavailable`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import uuid6
from sqlalchemy import Connection, Date, Engine, Select, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DatabaseError

from edge.errors import EdgeError, StorageFailed, StorageFull
from edge.settings import EdgeSettings
from edge.store import audit
from edge.store.alarms import Alarms
from edge.store.db import disk_free_mb, read_counter, set_counter
from edge.store.models import Case, CaseEventRow, OutboxRow, ReceiptCounter, table
from edge.text import text as words
from protocol import idnumber, lookup, sealed
from protocol.cases import Applicant, CaseEvent, CaseSubmission
from protocol.envelope import utcnow
from protocol.localtime import LOCAL_TZ
from protocol.typed import typed_query_code, typed_receipt

__all__ = ["NUMBERS_AHEAD", "CaseStore", "InvalidApplicant", "LookupUnavailable", "NewCase", "NoHubKey", "receipt_day"]

log = logging.getLogger(__name__)
_STORAGE_FAULTS = ("disk I/O error", "readonly", "malformed", "not a database")
"""What SQLite says when the storage itself fails (not a full disk): a failing SD card, a read-only or damaged file."""
_QUERY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone
_cases, _outbox, _events, _counters = (
    table(Case),
    table(OutboxRow),
    table(CaseEventRow),
    table(ReceiptCounter),
)


_KEY_ID = "lookup_key_id"
_RUNNING = "service_running"  # meta: 1 from the service's start to its clean stop
_MOVED = "receipts_moved:"  # meta, with a day: the last number a start moved that day's numbers to
NUMBERS_AHEAD = 100
"""How far today's receipt numbers move when the terminal may have forgotten some it gave (a terminal accepts
tens a day; a power cut loses seconds): four digits a day leave room for many such moves."""


def receipt_day(at: datetime) -> str:
    """The local day of ``at`` as receipt numbers carry it and ``receipt_counters`` keys it (YYYYMMDD)."""
    return at.astimezone(LOCAL_TZ).strftime("%Y%m%d")


class _NoRoom(Exception):
    """Internal: the bound is reached; turned into an alarm and StorageFull outside the transaction."""


class NoHubKey(EdgeError):
    """No (usable) hub public key is configured: cases cannot be sealed, so none is accepted."""


class InvalidApplicant(EdgeError):
    """The card holder's ID number is not a possible one; the message is for the resident."""


class LookupUnavailable(EdgeError):
    """This terminal has no lookup key yet (none since it started: the hub gives it on connect), so a
    holder's cases cannot be looked up by their ID number."""


@dataclass(frozen=True)
class NewCase:
    """What the kiosk (or ``shegong edge submit``) hands over to be accepted."""

    item_code: str
    applicant: Applicant
    form: dict[str, str] = field(default_factory=dict)
    materials: list[str] = field(default_factory=list)
    agent: str | None = None
    notify_phone: str | None = None
    """A mobile number for SMS notices, given with the resident's consent (None: no notices)."""
    item_hash: str | None = None
    """The content hash of the item as the kiosk showed it and promised on the receipt (None: not known)."""
    done_on_spot: bool = False
    """Finished here and now (当场办结), as the receipt says: kept as completed before the hub has heard of it."""
    due_date: date | None = None
    """The promised completion date the receipt prints."""


class CaseStore:
    """Cases of this terminal: accept, list a holder's cases, apply hub events."""

    def __init__(self, engine: Engine, settings: EdgeSettings, alarms: Alarms) -> None:
        self._engine = engine
        self._settings = settings
        self._alarms = alarms
        self._sealer: sealed.Sealer | None = None
        self._lookup_key: bytes | None = None  # K, from the hub; never written anywhere
        self._damaged = ""  # what check_storage found wrong with the file: no new case until a sound start
        self._numbering = False  # numbering_resumes ran in this process: a clean stop may clear its mark

    def sealer(self) -> sealed.Sealer:
        """Seals to the hub's public case key from the settings; :class:`NoHubKey` while there is none."""
        if self._sealer is None:
            text = self._settings.hub_public_key
            if not text:
                raise NoHubKey(words("store.no_hub_key"))
            try:
                self._sealer = sealed.Sealer(sealed.public_key(text), rotate_n=self._settings.seal_key_cases)
            except sealed.InvalidKey as exc:
                raise NoHubKey(words("store.bad_hub_key", error=exc)) from None
        return self._sealer

    # -- the lookup key --------------------------------------------------------------------------------
    @property
    def lookup_known(self) -> bool:
        """Whether the hub's lookup key is here (since the last start)."""
        return self._lookup_key is not None

    def set_lookup_key(self, key: bytes) -> bool:
        """Keep ``key`` (in memory) as ``K``. If it is not the key the stored holder keys were made with,
        they are all cleared, to be filled again from the hub; returns True then."""
        if len(key) != lookup.KEY_BYTES:
            raise ValueError(f"a lookup key is {lookup.KEY_BYTES} bytes")
        # 48 bits of a hash of K name it across restarts; they tell nothing about K or any holder.
        key_id = int.from_bytes(hashlib.sha256(b"shegong/lookup-key-id\x00" + key).digest()[:6], "big")
        with self._engine.begin() as conn:
            stored = read_counter(conn, _KEY_ID)
            changed = stored not in (0, key_id)
            if changed:
                conn.execute(update(_cases).where(_cases.c.holder_key != "").values(holder_key=""))
            if stored != key_id:
                set_counter(conn, _KEY_ID, key_id)
        self._lookup_key = key
        if changed:
            log.warning("the hub's lookup key changed: holder keys cleared, to be asked for again")
        return changed

    def holder_key(self, id_number: str) -> str | None:
        """``id_number``'s holder key, or None while the lookup key is not here."""
        key = self._lookup_key
        return lookup.holder_key(key, id_number) if key is not None else None

    def set_holder_keys(self, keys: Mapping[str, str]) -> int:
        """Store the hub's holder keys (``{case id: key}``) for cases that have none; returns how many."""
        if not keys:
            return 0
        fill = (
            update(_cases)
            .where(_cases.c.case_id == bindparam("b_case_id"), _cases.c.holder_key == "")
            .values(holder_key=bindparam("b_key"))
        )
        with self._engine.begin() as conn:
            return conn.execute(fill, [{"b_case_id": c, "b_key": k} for c, k in keys.items()]).rowcount

    def missing_holder_keys(self, limit: int, exclude: Collection[str] = ()) -> list[str]:
        """Cases the hub acked that have no holder key (oldest first), but those in ``exclude``."""
        query = select(_cases.c.case_id).where(_cases.c.holder_key == "", _cases.c.hub_acked_at.is_not(None))
        if exclude:
            query = query.where(_cases.c.case_id.not_in(list(exclude)))
        with self._engine.connect() as conn:
            return list(conn.execute(query.order_by(_cases.c.created_at).limit(limit)).scalars())

    def submit(self, new: NewCase, now: datetime | None = None) -> CaseSubmission:
        """Accept ``new`` durably (case + outbox row, one transaction), or raise and store nothing.

        Raises :class:`InvalidApplicant` for an impossible ID number and :class:`StorageFull` (with an
        alarm) when the outbox or the disk is at its bound.
        """
        try:
            id_number = idnumber.validate(new.applicant.id_number)
        except idnumber.InvalidIdNumber as exc:
            raise InvalidApplicant(words("store.invalid_id", error=exc)) from None
        now = now or utcnow()
        sealer = self.sealer()
        if self._damaged:
            raise StorageFailed(words("store.failed"))
        try:
            with self._engine.begin() as conn:
                if problem := self._room_problem(conn):
                    raise _NoRoom(problem)
                receipt_no = self._next_receipt(conn, now)
                submission = CaseSubmission(
                    case_id=uuid6.uuid7(),
                    receipt_no=receipt_no,
                    query_code="".join(secrets.choice(_QUERY_ALPHABET) for _ in range(6)),
                    item_code=new.item_code,
                    committee=self._settings.committee_code,
                    created_at=now,
                    applicant=new.applicant.model_copy(update={"id_number": id_number}),
                    agent=new.agent,
                    form=new.form,
                    materials=new.materials,
                    notify_phone=new.notify_phone,
                    item_hash=new.item_hash,
                )
                # Sealed before it is stored: the case row and the outbox hold only what the hub can open.
                payload = sealer.seal(submission).model_dump_json()
                case_id = str(submission.case_id)
                conn.execute(
                    insert(_cases).values(
                        case_id=case_id,
                        receipt_no=receipt_no,
                        query_code=submission.query_code,
                        item_code=new.item_code,
                        holder_key=self.holder_key(id_number) or "",  # empty: the ack brings it
                        created_at=now,
                        status="completed" if new.done_on_spot else "submitted",
                        due_date=new.due_date,
                        version=0,
                        status_at=now,
                        status_note="",
                        payload=payload,
                    )
                )
                conn.execute(
                    insert(_outbox).values(
                        item_id=case_id, channel="cases", payload=payload, created_at=now, attempts=0
                    )
                )
                facts: dict[str, object] = {"receipt_no": receipt_no, "item_code": new.item_code, "on_behalf": False}
                if new.agent:  # 代办: the staff member is named by staff id, the resident not at all
                    facts.update(on_behalf=True, staff=new.agent)
                actor = f"staff:{new.agent}" if new.agent else "resident"
                audit.record(conn, now, actor, "case.accepted", case_id, facts)
        except _NoRoom as exc:
            # Raised outside the transaction: the alarm is written on its own connection.
            self._alarms.raise_("storage_full", str(exc))
            raise StorageFull(words("store.full_because", reason=exc)) from None
        except DatabaseError as exc:
            if isinstance(exc.orig, sqlite3.OperationalError) and "full" in str(exc.orig):
                self._alarms.raise_("storage_full", words("store.db_full_alarm"))
                raise StorageFull(words("store.full")) from None
            if isinstance(exc.orig, sqlite3.DatabaseError) and any(m in str(exc.orig) for m in _STORAGE_FAULTS):
                # A failing SD card: the resident is told to call staff (not a generic fault page), and the
                # alarm tells the operator and the hub (a storage review). The alarm may fail to be written too.
                with contextlib.suppress(DatabaseError):
                    self._alarms.raise_("storage_failed", words("store.failed_alarm", reason=exc.orig))
                raise StorageFailed(words("store.failed")) from None
            raise
        self._alarms.clear("storage_full")
        self._alarms.clear("storage_failed")
        log.info("case accepted: %s item=%s", receipt_no, new.item_code)
        return submission

    def room_again(self) -> bool:
        """Clear the ``storage_full`` alarm once there is room again (disk freed, outbox drained), without
        waiting for the next case to succeed; True when it was cleared."""
        if "storage_full" not in self._alarms.active():
            return False
        with self._engine.connect() as conn:
            if self._room_problem(conn) is not None:
                return False
        self._alarms.clear("storage_full")
        return True

    def _room_problem(self, conn: Connection) -> str | None:
        """Why there is no room for one more case, or None. The policy is "refuse new", never "drop old"."""
        s = self._settings
        depth = conn.execute(
            select(func.count()).select_from(_outbox).where(_outbox.c.parked_at.is_(None))
        ).scalar_one()
        reason = None
        if depth >= s.outbox_limit:
            reason = words("store.outbox_limit", limit=s.outbox_limit)
        else:
            if disk_free_mb(s.data_dir) < s.min_free_disk_mb:
                reason = words("store.disk_low", mb=s.min_free_disk_mb)
            elif s.db_max_pages:
                pages = conn.execute(text("PRAGMA page_count")).scalar_one()
                if pages + s.reserve_pages >= s.db_max_pages:
                    reason = words("store.db_near_limit")
        return reason

    def _next_receipt(self, conn: Connection, now: datetime) -> str:
        day = receipt_day(now)
        conn.execute(
            sqlite_insert(_counters)
            .values(day=day, last=1)
            .on_conflict_do_update(index_elements=["day"], set_={"last": _counters.c.last + 1})
        )
        last = conn.execute(select(_counters.c.last).where(_counters.c.day == day)).scalar_one()
        series = self._settings.receipt_series  # one digit, this terminal's own within the committee
        return f"{self._settings.committee_code}-{day}-{'' if series is None else series}{last:04d}"

    def check_storage(self) -> str:
        """Called as the service starts: SQLite's ``quick_check`` over the whole file; what it found wrong,
        or '' when the file is sound. A damaged page (a failing card) is not seen by every write, and a case
        written beside it may be lost: the terminal takes no new case (:class:`StorageFailed`, the resident
        told to ask the staff) and raises ``storage_failed`` until a start finds the file sound (after a
        restore, docs/night.md). A sound file clears the alarm."""
        try:
            with self._engine.connect() as conn:
                rows = [str(r) for r in conn.execute(text("PRAGMA quick_check")).scalars()]
            self._damaged = "" if rows == ["ok"] else "; ".join(rows[:3])
        except DatabaseError as exc:
            self._damaged = str(exc.orig)
        if self._damaged:
            log.error("the terminal's database is damaged; no new cases until it is restored: %s", self._damaged)
            with contextlib.suppress(DatabaseError):
                self._alarms.raise_("storage_failed", words("store.failed_alarm", reason=self._damaged[:200]))
        else:
            self._alarms.clear("storage_failed")
        return self._damaged

    def numbering_resumes(self, now: datetime | None = None) -> int | None:
        """Called as the service starts: when its last run did not stop cleanly (a power cut, a kill), move
        today's receipt numbers on, and those of the last day numbered (a clock set back by a power cut
        shows yesterday still), and return today's new last one; None after a clean stop. Numbers that did
        not move since the last such move (a service killed again and again) move no further."""
        now = now or utcnow()
        self._numbering = True
        with self._engine.begin() as conn:
            unclean = read_counter(conn, _RUNNING) > 0
            set_counter(conn, _RUNNING, 1)
            if not unclean:
                return None
            today = receipt_day(now)
            latest = conn.execute(select(func.max(_counters.c.day))).scalar()
            if latest and latest != today:
                self._move_ahead(conn, latest, None, now, "unclean_stop")
            last = self._move_ahead(conn, today, None, now, "unclean_stop")
        log.warning("the last run did not stop cleanly: today's receipt numbers continue after %d", last)
        return last

    def numbering_stops(self) -> None:
        """Called as the service stops cleanly, after :meth:`numbering_resumes`: the next start need not move
        the numbers on. A run that never resumed numbering (a damaged file) leaves the mark as it found it."""
        if not self._numbering:
            return
        with self._engine.begin() as conn:
            set_counter(conn, _RUNNING, 0)

    def numbers_held_elsewhere(self, case_ids: Collection[str], now: datetime | None = None) -> int | None:
        """The hub refused these cases' receipt numbers as other cases': it holds numbers this terminal gave
        and forgot. Today's numbers move on past them; returns the new last one (None: none was today's)."""
        now = now or utcnow()
        today = receipt_day(now)
        with self._engine.begin() as conn:
            receipts = conn.execute(select(_cases.c.receipt_no).where(_cases.c.case_id.in_(list(case_ids)))).scalars()
            taken = [self._sequence(seq) for day, seq in (r.rsplit("-", 2)[-2:] for r in receipts) if day == today]
            if not taken:
                return None
            last = self._move_ahead(conn, today, max(taken), now, "duplicate_receipt")
        log.warning("the hub holds receipt numbers this terminal forgot: today's continue after %d", last)
        return last

    def _sequence(self, tail: str) -> int:
        """The day's sequence in the last part of a receipt number of this terminal (its series digit off)."""
        return int(tail if self._settings.receipt_series is None else tail[1:])

    @staticmethod
    def _move_ahead(conn: Connection, day: str, past: int | None, now: datetime, why: str) -> int:
        """Make ``day``'s last number at least :data:`NUMBERS_AHEAD` past ``past`` (None: past its own, unless
        no number was given since it was last moved so: nothing more can have been forgotten)."""
        held = conn.execute(select(_counters.c.last).where(_counters.c.day == day)).scalar() or 0
        if past is None and held and read_counter(conn, f"{_MOVED}{day}") == held:
            return held
        last = max(held, (held if past is None else past) + NUMBERS_AHEAD)
        if past is None:  # a row a day with an unclean start: a few a year
            set_counter(conn, f"{_MOVED}{day}", last)
        if last != held:
            conn.execute(
                sqlite_insert(_counters)
                .values(day=day, last=last)
                .on_conflict_do_update(index_elements=["day"], set_={"last": last})
            )
            audit.record(conn, now, "terminal", "receipts.moved_ahead", day, {"from": held, "to": last, "why": why})
        return last

    def cases_of(self, id_number: str) -> list[dict[str, object]]:
        """Every case of a holder, newest first, with its timeline and the time its state is as of.

        Raises :class:`LookupUnavailable` while the lookup key is not here. A case accepted without it and
        not yet acked by the hub is not among them (:meth:`cases_by_id` finds it by its id)."""
        key = self.holder_key(id_number)
        if key is None:
            raise LookupUnavailable(words("store.lookup_offline_mine"))
        query = select(_cases).where(_cases.c.holder_key == key)
        return self._with_timelines(query.order_by(_cases.c.created_at.desc()))

    def is_holders(self, case: Mapping[str, object], id_number: str) -> bool:
        """Whether ``case`` (a row of :meth:`get`) is ``id_number``'s by its holder key, compared in constant
        time; False while the lookup key is not here, or the case has no holder key yet."""
        key = self.holder_key(id_number)
        held = str(case["holder_key"] or "")
        return key is not None and bool(held) and hmac.compare_digest(held.encode(), key.encode())

    def cases_by_id(self, case_ids: Collection[str]) -> list[dict[str, object]]:
        """These cases (those still here), newest first, with their timelines."""
        if not case_ids:
            return []
        query = select(_cases).where(_cases.c.case_id.in_(list(case_ids)))
        return self._with_timelines(query.order_by(_cases.c.created_at.desc()))

    def by_receipt(self, receipt_no: str, query_code: str, id_number: str) -> dict[str, object] | None:
        """The case on a receipt, with its timeline — only when the query code matches *and* the case is
        ``id_number``'s (by holder key). None for any mismatch, without saying which part it was. The receipt
        number and query code are read as people type them (:mod:`protocol.typed`: lower case, full-width,
        spaces, other dashes), as on the hub's portal.

        Raises :class:`LookupUnavailable` while the lookup key is not here: the holder cannot be checked."""
        key = self.holder_key(id_number)
        if key is None:
            raise LookupUnavailable(words("store.lookup_offline_progress"))
        receipts = sorted({r[:40] for r in typed_receipt(receipt_no)})  # more than one when typed ambiguously
        found = self._with_timelines(select(_cases).where(_cases.c.receipt_no.in_(receipts)))
        wanted_code, mine = typed_query_code(query_code)[:16].encode(), None
        for case in found or [{"query_code": "", "holder_key": ""}]:
            # Both compared every time, in constant time: the answer's timing does not tell which one failed.
            code_ok = hmac.compare_digest(str(case["query_code"]).encode(), wanted_code)
            holder_ok = hmac.compare_digest(str(case["holder_key"]).encode(), key.encode())
            if found and code_ok and holder_ok:
                mine = case
        return mine

    def _with_timelines(self, query: Select[*tuple[Any, ...]]) -> list[dict[str, object]]:
        with self._engine.connect() as conn:
            out = []
            for case in conn.execute(query).mappings().all():
                events = select(_events).where(_events.c.case_id == case["case_id"]).order_by(_events.c.version)
                timeline = conn.execute(events).mappings().all()
                out.append({**case, "timeline": [dict(e) for e in timeline]})
        return out

    def get(self, case_id: str) -> dict[str, object] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_cases).where(_cases.c.case_id == case_id)).mappings().first()
        return dict(row) if row else None

    def apply_events(self, events: list[CaseEvent], now: datetime | None = None) -> int:
        """Store hub events and move each case forward, never back: an older version changes nothing.

        The events stored for the first time go into one audit entry (a redelivery adds none).
        Returns how many case states changed.
        """
        rows = [
            {
                "event_id": ev.event_id,
                "case_id": str(ev.case_id),
                "version": ev.version,
                "status": ev.status.value,
                "at": ev.at,
                "note": ev.note,  # the reason the resident reads; the department is not shown, not kept
                "tag": ev.tag,  # the hub's: what proves this copy to the hub if it must restore the event
            }
            for ev in events
        ]
        if not rows:
            return 0
        forward = (
            update(_cases)
            .where(_cases.c.case_id == bindparam("b_case_id"), _cases.c.version < bindparam("b_version"))
            .values(
                status=bindparam("b_status"),
                version=bindparam("b_version"),
                status_at=bindparam("b_at"),
                status_note=bindparam("b_note"),
            )
        )
        with self._engine.begin() as conn:
            new_ids = set(
                conn.execute(sqlite_insert(_events).on_conflict_do_nothing().returning(_events.c.event_id), rows)
                .scalars()
                .all()
            )
            # One statement for the batch; each row moves its case forward only if the version is newer.
            changed = conn.execute(forward, [{f"b_{k}": v for k, v in r.items()} for r in rows]).rowcount
            # The centre's date, from the event at the version the case is now at: one just applied, or one already
            # here sent again (a calendar recount at the hub moved the date).
            dated = [
                {"b_case_id": str(ev.case_id), "b_version": ev.version, "b_due": ev.due_date}
                for ev in events
                if ev.due_date is not None
            ]
            if dated:
                conn.execute(
                    update(_cases)
                    .where(_cases.c.case_id == bindparam("b_case_id"), _cases.c.version == bindparam("b_version"))
                    .values(due_date=bindparam("b_due", type_=Date())),
                    dated,
                )
            if new_ids:
                applied = [
                    {"case_id": r["case_id"], "version": r["version"], "status": r["status"]}
                    for r in rows
                    if r["event_id"] in new_ids
                ]
                audit.record(
                    conn, now or utcnow(), "hub", "case.events", "case_events", {"events": applied, "changed": changed}
                )
            conn.execute(
                text(
                    "INSERT INTO meta(key, value) VALUES ('events_watermark', :v) "
                    "ON CONFLICT(key) DO UPDATE SET value = max(value, :v)"
                ),
                {"v": max(r["event_id"] for r in rows)},
            )
        return changed
