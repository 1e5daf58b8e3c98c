"""Cases keep the working days promised at their arrival: ``cases.promised_days``.

A published catalogue version changes the promise of cases arriving afterwards only, and a calendar edit
counts the due date of every open case again from its arrival with its own promised days — so the days
must be stored with the case. For open cases already there they are worked back from the due date they
were given, on the calendar held now (the one it was counted on): the days that, counted again, give
exactly that due date. A case where no number does keeps an empty value and its due date as it is.

Revision ID: h0013
Revises: h0012 (written beside the ingest branch's h0012, both on h0011; chained at the merge)
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime
from protocol.workdays import (
    AdjustedWorkday,
    Holiday,
    WorkCalendar,
    add_working_days,
    next_working_day,
    working_days_between,
)

revision = "h0013"
down_revision = "h0012"
branch_labels = None
depends_on = None

_OPEN = ("submitted", "accepted", "under_review", "more_materials")
_LOCAL = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    op.add_column("cases", sa.Column("promised_days", sa.Integer(), nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("promised_days")


def _calendar(conn: sa.Connection) -> WorkCalendar:
    years = {int(y) for (y,) in conn.execute(sa.text("SELECT year FROM calendar_years"))}
    days = sa.table("calendar_days", sa.column("day", sa.Date()), sa.column("kind"), sa.column("name"))
    rows = [(d, k, n) for d, k, n in conn.execute(sa.select(days.c.day, days.c.kind, days.c.name))]
    return WorkCalendar(
        years=sorted(years | {d.year for d, _, _ in rows}),
        source="hub",
        holidays=[Holiday(name=n, first=d, last=d) for d, k, n in rows if k == "off"],
        adjusted_workdays=[AdjustedWorkday(day=d, name=n) for d, k, n in rows if k == "work"],
    )


def _days(received_at: datetime, due: date, paused: int, cal: WorkCalendar) -> int | None:
    """The promised days that give ``due`` again, or None when no number does."""
    received = received_at.astimezone(_LOCAL).date()
    if due == received:  # an immediate item, due the day it came: so they were counted when this migration was
        return 0  # written (now a day off counts the next working day), and such cases were stored so
    days = working_days_between(next_working_day(received, cal), due, cal) - paused
    if days < 0:
        return None
    counted = add_working_days(received, days, cal)
    counted = add_working_days(counted, paused, cal) if paused else counted
    return days if counted == due else None


def _backfill(conn: sa.Connection) -> None:
    cases = sa.table(
        "cases",
        sa.column("case_id"),
        sa.column("status"),
        sa.column("received_at", UTCDateTime()),
        sa.column("due_date", sa.Date()),
        sa.column("promised_days", sa.Integer()),
    )
    work = sa.table("case_work", sa.column("case_id"), sa.column("paused_days", sa.Integer()))
    rows = conn.execute(
        sa.select(cases.c.case_id, cases.c.received_at, cases.c.due_date, work.c.paused_days)
        .select_from(cases.outerjoin(work, work.c.case_id == cases.c.case_id))
        .where(cases.c.status.in_(_OPEN), cases.c.due_date.is_not(None))
    ).all()
    if not rows:
        return
    cal = _calendar(conn)
    found = [(cid, _days(at, due, int(paused or 0), cal)) for cid, at, due, paused in rows]
    values = [{"b_id": cid, "b_days": days} for cid, days in found if days is not None]
    if values:
        by_id = cases.c.case_id == sa.bindparam("b_id")
        conn.execute(sa.update(cases).where(by_id).values(promised_days=sa.bindparam("b_days")), values)
