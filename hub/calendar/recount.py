"""A calendar edit counts the due dates of open cases again, in the edit's own transaction.

Which days are worked decides every due date, and the State Council publishes each next year's
arrangement late in the year — after cases due in January were received. So when the calendar changes,
every open case (submitted, accepted, under review, or waiting in 补正) gets the due date it would have
had on the new calendar: counted from when the committee accepted it (``promise_start``) with the working
days promised at its arrival (``cases.promised_days``, not the catalogue's days now), moved by the working
days its finished 补正 pause lasted as counted when it ended (``case_work.paused_days``). A case waiting
in 补正 now is moved again when it resumes, on the calendar in force then. Closed cases keep theirs: their
in-time verdict was given on it. The yellow and red cards are not stored: they follow from the due date and
the calendar.

Each changed case goes into one audit entry (``cases.due_recounted``) beside the calendar change's own.
The deadlines of the open return calls (:data:`~hub.cases.returncalls.RETURN_CALL_DAYS` working days after
the bad rating arrived) move alike, in an entry of their own (``return_calls.due_recounted``): one counted
over 元旦 before it was entered was called late on the day it was really due (a year-end review).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from hub.audit.chain import AuditRecord
from hub.calendar.duedates import count_due, promise_start
from hub.cases.returncalls import RETURN_CALL_DAYS
from hub.cases.states import OPEN
from hub.db.models import CaseEventRow, CaseRow, CaseWorkRow, ReturnCallRow, table
from protocol.workdays import WorkCalendar

__all__ = ["Moved", "recount_open_cases", "recount_open_return_calls", "recount_record"]

_cases, _work, _calls, _events = table(CaseRow), table(CaseWorkRow), table(ReturnCallRow), table(CaseEventRow)
Moved = tuple[str, date | None, date]
"""A case whose due date moved: ``(case_id, old, new)``."""


def recount_open_cases(conn: Connection, calendar: WorkCalendar) -> list[Moved]:
    """Count the due date of every open case on ``calendar`` and store those that moved.

    The open cases are locked (PostgreSQL) so a clerk's step cannot write an old one back; lock them
    before appending to the audit chain, as a clerk's step does, so the two never wait for each other."""
    is_open = _cases.c.status.in_([s.value for s in OPEN])
    # Lock first, read the pauses after: on PostgreSQL a statement that waited for a clerk's step gets
    # that step's row of ``cases`` but the ``case_work`` row of its own older snapshot, so the pauses are
    # read by a second statement, whose snapshot has every step that committed before the locks were won.
    rows = conn.execute(
        select(
            _cases.c.case_id,
            _cases.c.created_at,
            _cases.c.received_at,
            _cases.c.clock_skew_s,
            _cases.c.clock_fix_s,
            _cases.c.promised_days,
            _cases.c.due_date,
            _cases.c.statutory_days,
            _cases.c.statutory_due,
        )
        .where(is_open, _cases.c.promised_days.is_not(None))
        .order_by(_cases.c.case_id)
        .with_for_update()
    ).all()
    pauses = select(_work.c.case_id, _work.c.paused_days, _work.c.paused_at).where(
        _work.c.case_id.in_(select(_cases.c.case_id).where(is_open))
    )
    paused: dict[str, int] = {}
    waiting: set[str] = set()  # in 补正 now: the dates before the pause (the reports' past periods) move too
    for case_id, days, paused_at in conn.execute(pauses):
        paused[str(case_id)] = int(days or 0)
        if paused_at is not None:
            waiting.add(str(case_id))
    moved: list[Moved] = []
    statutory: list[dict[str, Any]] = []  # the statutory due dates move alike (not listed in the audit entry)
    before_pause: list[dict[str, Any]] = []
    for case_id, created_at, received_at, skew, fix, days, old, law_days, law_old in rows:
        start = promise_start(created_at, received_at, skew, fix)
        new = count_due(start, int(days), paused.get(case_id, 0), calendar)
        if new != old:
            moved.append((case_id, old, new))
        law_new = law_old
        if law_days is not None:
            law_new = count_due(start, int(law_days), paused.get(case_id, 0), calendar)
            if law_new != law_old:
                statutory.append({"b_case_id": case_id, "b_due": law_new})
        if case_id in waiting and (new != old or law_new != law_old):
            before_pause.append({"b_case_id": case_id, "b_due": new, "b_law": law_new})
    if before_pause:
        conn.execute(
            update(_work)
            .where(_work.c.case_id == bindparam("b_case_id"))
            .values(due_before_pause=bindparam("b_due"), statutory_before_pause=bindparam("b_law")),
            before_pause,
        )
    if statutory:
        conn.execute(
            update(_cases).where(_cases.c.case_id == bindparam("b_case_id")).values(statutory_due=bindparam("b_due")),
            statutory,
        )
    if moved:
        conn.execute(
            update(_cases).where(_cases.c.case_id == bindparam("b_case_id")).values(due_date=bindparam("b_due")),
            [{"b_case_id": case_id, "b_due": new} for case_id, _, new in moved],
        )
        # Each moved case's newest event goes to its terminal again (hub.cases.delivery's resend sweep), carrying
        # the date now: the terminal shows the resident the promised date, and no other event would tell it.
        newest = select(func.max(_events.c.id)).where(_events.c.case_id == bindparam("b_case_id")).scalar_subquery()
        conn.execute(
            update(_events).where(_events.c.id == newest).values(published_at=None),
            [{"b_case_id": case_id} for case_id, _, _ in moved],
        )
    return moved


def recount_open_return_calls(conn: Connection, calendar: WorkCalendar) -> list[Moved]:
    """Count the deadline of every open return call on ``calendar`` and store those that moved:
    ``(rating_id, old, new)``."""
    rows = conn.execute(
        select(_calls.c.rating_id, _calls.c.opened_at, _calls.c.due_date)
        .where(_calls.c.done_at.is_(None))
        .order_by(_calls.c.rating_id)
        .with_for_update()
    ).all()
    moved: list[Moved] = []
    for rating_id, opened_at, old in rows:
        new = count_due(opened_at, RETURN_CALL_DAYS, 0, calendar)
        if new != old:
            moved.append((str(rating_id), old, new))
    if moved:
        conn.execute(
            update(_calls).where(_calls.c.rating_id == bindparam("b_id")).values(due_date=bindparam("b_due")),
            [{"b_id": rating_id, "b_due": new} for rating_id, _, new in moved],
        )
    return moved


def recount_record(
    at: datetime, actor: str, cause: dict[str, Any], moved: list[Moved], calls: list[Moved]
) -> list[AuditRecord]:
    """The audit entries naming every moved case and return call (none when nothing moved)."""

    def listed(changed: list[Moved]) -> list[list[str | None]]:
        return [[key, old.isoformat() if old else None, new.isoformat()] for key, old, new in changed]

    out = (
        [AuditRecord(at, actor, "cases.due_recounted", "calendar", {**cause, "cases": listed(moved)})] if moved else []
    )
    if calls:
        out.append(
            AuditRecord(at, actor, "return_calls.due_recounted", "calendar", {**cause, "ratings": listed(calls)})
        )
    return out
