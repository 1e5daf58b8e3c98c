"""The first edge schema: cases, their outbox, receipt counters and durable counters.

Revision ID: e0001
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("receipt_no", sa.String(40), nullable=False, unique=True),
        sa.Column("query_code", sa.String(6), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("holder_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status_at", UTCDateTime(), nullable=False),
        sa.Column("hub_acked_at", UTCDateTime(), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
    )
    op.create_index("ix_cases_holder_key", "cases", ["holder_key"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_outbox_item_id", "outbox", ["item_id"])
    op.create_table(
        "receipt_counters",
        sa.Column("day", sa.String(8), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "receipt_counters", "outbox", "cases"):
        op.drop_table(table)
