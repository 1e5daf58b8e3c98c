"""Moving a case: one transaction per change, then the event goes to the terminal the case came from.

Each change updates ``cases`` only ``WHERE version = :expected`` (two clerks acting on the same version:
one wins, the other gets :class:`CaseConflict`), inserts the ``case_events`` row, keeps ``case_work`` and
appends to the audit chain under the user's name — all or nothing. Only after the commit is the event
handed to ``send`` — in a running hub :meth:`hub.cases.delivery.EventDelivery.send`, which marks the row
published once the broker acknowledged it and sends it again until then, also after a crash or a lost
broker in between (at least once; the terminal keeps the newest version).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from hub.audit.chain import AuditRecord, append
from hub.calendar.duedates import DueDates, paused_working_days, promise_start
from hub.cases.messages import ACTION_LABELS, ERRORS, STATUS_LABELS, materials_notice, routed_note
from hub.cases.partnered import is_partner_terminal
from hub.cases.routing import UNROUTED, may_route, unrouted_name
from hub.cases.states import CLOSED, Action, transition
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, table
from hub.errors import HubError, NotFound
from hub.people.roles import Permission, Principal, authorize
from protocol.cases import CaseEvent, CaseStatus
from protocol.envelope import utcnow
from protocol.idnumber import mask_ids
from protocol.localtime import local_date

__all__ = ["CaseConflict", "InvalidAction", "NoticeHook", "Outcome", "Send", "Workflow"]

log = logging.getLogger(__name__)
Send = Callable[[str, Sequence[CaseEvent]], bool]
"""Publish committed events to a terminal; True when the broker client took them (EventDelivery.send)."""
NoticeHook = Callable[[Connection, Mapping[str, Any], CaseStatus, int, str, Sequence[str], datetime], bool]
"""Queue a resident's notice of a status change in the change's own transaction (hub.notices.outbox):
(conn, case row, new status, version, note, materials, now)."""
_cases, _events, _work = table(CaseRow), table(CaseEventRow), table(CaseWorkRow)
NOTE_MAX = 2000
MATERIALS_MAX = 30


class CaseConflict(HubError):
    """The case changed since the caller saw it (its version moved on)."""

    status_code = 409


class InvalidAction(HubError):
    """Not possible from the case's state, or missing what it needs (a reason, the materials)."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class Outcome:
    """The committed event; ``published``: handed to the broker client (it goes out later if not)."""

    event: CaseEvent
    terminal_id: str
    published: bool


class Workflow:
    def __init__(
        self,
        engine: Engine,
        due_dates: DueDates,
        departments: Callable[[], Mapping[str, str]],
        send: Send | None = None,
        clock: Callable[[], datetime] = utcnow,
        notices: NoticeHook | None = None,
    ) -> None:
        """``departments``: code → name of every department a case may be routed to now (those of the
        catalogue in force); ``send``: where committed events go (none: they wait in the database for a
        running hub's delivery); ``notices``: queues the resident's SMS notice of a status change."""
        self.engine = engine
        self.due_dates = due_dates
        self.departments = departments
        self.send = send
        self.clock = clock
        self.notices = notices

    # ------------------------------------------------------------------ status changes
    def act(
        self,
        who: Principal,
        case_id: str,
        action: Action,
        expected_version: int,
        reason: str = "",
        materials: Sequence[str] = (),
    ) -> Outcome:
        """Apply ``action`` to the case at ``expected_version`` on behalf of ``who``.

        Raises :class:`~hub.errors.NotFound`, :class:`~hub.errors.PermissionDenied` (not this user's
        department, or a role that may not act), :class:`CaseConflict` and :class:`InvalidAction`.
        """
        now = self.clock()
        # An ID number a clerk types into what the resident reads is masked at once: the note and the materials
        # travel to the terminal, rest in the broker's queue, go out by SMS and stay in the audit chain for good
        # (a personal-data review; the list of materials went out by SMS whole).
        reason = mask_ids(reason.strip())
        materials = [mask_ids(m.strip())[:128] for m in materials if m.strip()]
        with self.engine.begin() as conn:
            # Before the case's row lock, as a calendar edit takes them: the calendar as committed, not as
            # this process last looked (a step within seconds of another process's edit counted on the
            # calendar before it, and the edit's recount had already passed this case).
            calendar = self.due_dates.in_force(conn)
            case = self._case(conn, case_id)
            authorize(who, Permission.CASE_ACT, case["department"])
            self._check_version(case, expected_version)
            current = CaseStatus(case["status"])
            t = transition(action, current)
            label = ACTION_LABELS[action]
            if t is None:
                raise InvalidAction(ERRORS["transition"].format(status=STATUS_LABELS[current], action=label))
            if t.needs_reason and not reason:
                raise InvalidAction(ERRORS["reason"].format(action=label))
            work = self._work(conn, case_id)
            if action is Action.REQUEST_MATERIALS:
                if work["notices"]:
                    raise InvalidAction(ERRORS["second_notice"])
                if not materials or len(materials) > MATERIALS_MAX:
                    raise InvalidAction(ERRORS["materials"])
                note = materials_notice(materials, reason)
            else:
                note = reason
            note = note[:NOTE_MAX]

            due: date | None = case["due_date"]
            law_due: date | None = case["statutory_due"]
            start = promise_start(case["created_at"], case["received_at"], case["clock_skew_s"], case["clock_fix_s"])
            if due is None or (law_due is None and case["promised_days"] is not None):
                # received before due dates (or statutory ones) were counted at ingest: count it now
                promise = self.due_dates.promise(case["item_code"], start, calendar)
                if promise is not None:
                    if due is None:
                        due = promise.due
                        conn.execute(
                            update(_cases).where(_cases.c.case_id == case_id).values(promised_days=promise.days)
                        )
                    if law_due is None and promise.statutory_due is not None:
                        law_due = self.due_dates.extend(promise.statutory_due, int(work["paused_days"] or 0), calendar)
                        conn.execute(
                            update(_cases)
                            .where(_cases.c.case_id == case_id)
                            .values(statutory_days=promise.statutory_days)
                        )
            changes: dict[str, Any] = {}
            if action is Action.ACCEPT:
                changes.update(assignee=who.username, accepted_at=now)
            if action is Action.REQUEST_MATERIALS:
                changes.update(
                    paused_at=now,
                    notices=work["notices"] + 1,
                    pause_began=now,
                    due_before_pause=due,
                    statutory_before_pause=law_due,
                )
            if work["paused_at"] is not None and action is not Action.REQUEST_MATERIALS:
                paused = paused_working_days(work["paused_at"], now, calendar)
                if due is not None:
                    due = self.due_dates.extend(due, paused, calendar)
                if law_due is not None:
                    law_due = self.due_dates.extend(law_due, paused, calendar)
                changes.update(paused_at=None, paused_days=work["paused_days"] + paused, pause_ended=now)
            if t.target in CLOSED:
                decided = t.target is not CaseStatus.WITHDRAWN
                changes.update(
                    decided_at=now,
                    outcome=t.target.value,
                    processing_s=(now - start).total_seconds() if decided else None,
                    in_time=_kept(decided, now, due),
                    statutory_in_time=_kept(decided, now, law_due),
                )
            if law_due != case["statutory_due"]:
                conn.execute(update(_cases).where(_cases.c.case_id == case_id).values(statutory_due=law_due))
            event = self._commit(
                conn,
                who,
                case,
                t.target,
                due,
                note,
                now,
                f"case.{action.value}",
                changes,
                work,
                materials,
                reason=reason,
            )
        return self._publish(case["terminal_id"], event)

    def route(self, who: Principal, case_id: str, department: str, expected_version: int, note: str = "") -> Outcome:
        """Send an open case to another department's queue, or back to the centre's window (:func:`may_route`)."""
        now = self.clock()
        departments = {UNROUTED: unrouted_name(), **self.departments()}
        if department not in departments:
            raise InvalidAction(ERRORS["department"].format(department=department))
        with self.engine.begin() as conn:
            case = self._case(conn, case_id)
            if not may_route(who, case["department"], department):
                authorize(who, Permission.CASE_ROUTE, case["department"])  # refuses, saying why
            self._check_version(case, expected_version)
            if case["status"] in CLOSED:
                raise InvalidAction(ERRORS["closed"])
            if case["department"] == department:
                raise InvalidAction(ERRORS["same_department"])
            previous = case["department"]
            case = {**case, "department": department}
            text = note.strip() or routed_note(departments[department])
            event = self._commit(
                conn,
                who,
                case,
                CaseStatus(case["status"]),
                case["due_date"],
                mask_ids(text)[:NOTE_MAX],
                now,
                "case.route",
                {},
                None,
                (),
                extra={"from_department": previous},
            )
        return self._publish(case["terminal_id"], event)

    # ------------------------------------------------------------------ internals
    def _case(self, conn: Connection, case_id: str) -> dict[str, Any]:
        # Locked (PostgreSQL) until the commit: a calendar edit recounting due dates waits for this step,
        # or this step waits for it and reads the recounted due date, never writing an older one back.
        q = select(_cases).where(_cases.c.case_id == case_id).with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFound(ERRORS["no_case"].format(case_id=case_id))
        return dict(row)

    def _work(self, conn: Connection, case_id: str) -> dict[str, Any]:
        row = conn.execute(select(_work).where(_work.c.case_id == case_id)).mappings().first()
        if row is None:
            return {"case_id": case_id, "notices": 0, "paused_at": None, "paused_days": 0, "_new": True}
        return dict(row)

    def _check_version(self, case: Mapping[str, Any], expected: int) -> None:
        if case["version"] != expected:
            raise CaseConflict(ERRORS["conflict"].format(current=case["version"]))

    def _commit(
        self,
        conn: Connection,
        who: Principal,
        case: Mapping[str, Any],
        status: CaseStatus,
        due: date | None,
        note: str,
        now: datetime,
        audit_action: str,
        work_changes: dict[str, Any],
        work: Mapping[str, Any] | None,
        materials: Sequence[str],
        extra: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> CaseEvent:
        """``reason``: the clerk's words beside a 补正 list, for the SMS (the note holds the whole notice)."""
        version = int(case["version"]) + 1
        moved = conn.execute(
            update(_cases)
            .where(_cases.c.case_id == case["case_id"], _cases.c.version == case["version"])
            .values(status=status.value, version=version, department=case["department"], due_date=due, updated_at=now)
        )
        if moved.rowcount != 1:  # another transaction won between our read and this write
            raise CaseConflict(ERRORS["conflict"].format(current="?"))
        event_id = conn.execute(
            insert(_events)
            .values(
                case_id=case["case_id"],
                terminal_id=case["terminal_id"],
                version=version,
                status=status.value,
                at=now,
                actor=who.username,
                note=note,
                department=case["department"],
                published_at=now if is_partner_terminal(case["terminal_id"]) else None,  # no terminal to tell
            )
            .returning(_events.c.id)
        ).scalar_one()
        work_changes = {**work_changes, "department": case["department"]}
        if work is None or work.get("_new"):
            work = self._work(conn, case["case_id"]) if work is None else work
        if work.get("_new"):
            defaults = {"assignee": "", "paused_days": 0, "notices": 0, "outcome": "", "item_code": case["item_code"]}
            conn.execute(insert(_work).values(case_id=case["case_id"], **{**defaults, **work_changes}))
        else:
            conn.execute(update(_work).where(_work.c.case_id == case["case_id"]).values(**work_changes))
        data: dict[str, Any] = {
            "version": version,
            "from": case["status"],
            "to": status.value,
            "department": case["department"],
            "event_id": event_id,
        }
        if note:
            data["note"] = note
        if materials:
            data["materials"] = list(materials)
        if due is not None:
            data["due_date"] = due.isoformat()
        data.update(extra or {})
        append(conn, [AuditRecord(now, who.actor, audit_action, case["case_id"], data)])
        if self.notices is not None and status.value != case["status"]:
            self.notices(conn, case, status, version, note if not materials else reason, materials, now)
        return CaseEvent(
            event_id=event_id,
            case_id=uuid.UUID(case["case_id"]),
            version=version,
            status=status,
            at=now,
            note=note,
            department=case["department"],
            due_date=due,
        )

    def _publish(self, terminal: str, event: CaseEvent) -> Outcome:
        if self.send is None or is_partner_terminal(terminal):
            return Outcome(event, terminal, False)
        try:
            sent = self.send(terminal, [event])
        except Exception:  # committed already, published_at still empty: the delivery sends it again
            log.exception("publishing an event of case %s to %s failed", event.case_id, terminal)
            sent = False
        return Outcome(event, terminal, sent)


def _kept(decided: bool, now: datetime, due: date | None) -> bool | None:
    """Whether a closing kept the due date. A withdrawal is no decision and counts neither way, except past
    its due date: the lateness stays (withdrawing an overdue case took it off the board and out of every
    late figure)."""
    if due is None:
        return None
    kept = local_date(now) <= due
    return kept if decided or not kept else None
