"""Issue 11 (cases): the statutory time limit beside the promised one, return calls for bad ratings, and
which Chinese text each English catalogue text was written for.

- ``cases.statutory_days`` / ``cases.statutory_due``: 法定办结时限 as the catalogue stated it at arrival,
  and the last day the law allows (moved by 补正 pauses like the due date). Cases already here keep them
  empty: supervision has no statutory date for them (the workflow fills one in at their next step).
- ``case_work.statutory_in_time``: decided by the statutory due date.
- ``return_calls``: one per bad rating (不满意, 非常不满意), for the item's department.
- ``catalogue_translations``: per item and English field, the hash of the Chinese source it translates.

Revision ID: h0018
Revises: h0017
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0018"
down_revision = "h0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("statutory_days", sa.Integer(), nullable=True))
    op.add_column("cases", sa.Column("statutory_due", sa.Date(), nullable=True))
    op.add_column("case_work", sa.Column("statutory_in_time", sa.Boolean(), nullable=True))
    op.create_index(
        "ix_case_work_statutory_late",
        "case_work",
        ["decided_at"],
        sqlite_where=sa.text("statutory_in_time = 0"),
        postgresql_where=sa.text("statutory_in_time IS false"),
    )
    op.create_table(
        "return_calls",
        sa.Column("rating_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("receipt_no", sa.String(40), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("committee", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(64), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
    )
    op.create_index("ix_return_calls_opened_at", "return_calls", ["opened_at"])
    op.create_index("ix_return_calls_dept_open", "return_calls", ["department", "done_at"])
    op.create_table(
        "catalogue_translations",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("field", sa.String(64), primary_key=True),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalogue_translations")
    op.drop_index("ix_return_calls_dept_open", "return_calls")
    op.drop_index("ix_return_calls_opened_at", "return_calls")
    op.drop_table("return_calls")
    op.drop_index("ix_case_work_statutory_late", "case_work")
    with op.batch_alter_table("case_work") as batch:
        batch.drop_column("statutory_in_time")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("statutory_due")
        batch.drop_column("statutory_days")
