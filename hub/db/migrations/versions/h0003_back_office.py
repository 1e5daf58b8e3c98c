"""The back office: users, web sessions, case work, the holiday calendar (seeded) and the audit anchor.

Revision ID: h0003
Revises: h0002
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0003"
down_revision = "h0002"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", _BIGINT, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("departments", sa.String(256), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "case_work",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_days", sa.Integer(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("processing_s", sa.Float(), nullable=True),
        sa.Column("in_time", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_case_work_assignee", "case_work", ["assignee"])
    op.create_index(
        "ix_case_work_report",
        "case_work",
        ["decided_at", "department", "item_code", "outcome", "processing_s", "in_time"],
    )
    op.create_index("ix_cases_report", "cases", ["received_at", "department", "item_code"])
    years = op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    days = op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "audit_anchor",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("entries", _BIGINT, nullable=False),
        sa.Column("last_id", _BIGINT, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    _seed_calendar(years, days)
    # The anchor starts where the chain already is, so an existing hub keeps verifying.
    conn = op.get_bind()
    count, last_id = conn.execute(sa.text("SELECT count(*), coalesce(max(id), 0) FROM audit")).one()
    head = conn.execute(sa.text("SELECT hash FROM audit WHERE id = :i"), {"i": last_id}).scalar() or "0" * 64
    conn.execute(
        sa.text(
            "INSERT INTO audit_anchor (id, entries, last_id, head_hash, at) VALUES (1, :n, :l, :h, :at)"
        ).bindparams(sa.bindparam("at", type_=UTCDateTime())),
        {"n": count, "l": last_id, "h": head, "at": datetime.now(UTC)},
    )


def _seed_calendar(years: sa.Table, days: sa.Table) -> None:
    """The official holiday arrangement shipped with the package; the administrator maintains it after."""
    from protocol.workdays import load_seed_calendar

    cal = load_seed_calendar()
    now = datetime.now(UTC)
    op.bulk_insert(years, [{"year": y, "source": cal.source[:200], "updated_at": now} for y in cal.years])
    rows = [
        {"day": d, "kind": "off", "name": h.name, "updated_by": "seed", "updated_at": now}
        for h in cal.holidays
        for d in h.days()
    ]
    rows += [
        {"day": a.day, "kind": "work", "name": a.name, "updated_by": "seed", "updated_at": now}
        for a in cal.adjusted_workdays
    ]
    op.bulk_insert(days, rows)


def downgrade() -> None:
    op.drop_index("ix_cases_report", table_name="cases")
    for table in ("audit_anchor", "calendar_days", "calendar_years", "case_work", "web_sessions", "users"):
        op.drop_table(table)
