"""Case events from the hub, alarms, and parking of items the hub refused.

Revision ID: e0002
Revises: e0001
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0002"
down_revision = "e0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("status_note", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("parked_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("parked_reason", sa.String(), nullable=True))
    op.create_index("ix_outbox_unparked", "outbox", ["parked_at", "seq"])
    op.create_table(
        "case_events",
        sa.Column("event_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_alarms_kind", "alarms", ["kind"])


def downgrade() -> None:
    op.drop_table("alarms")
    op.drop_table("case_events")
    op.drop_index("ix_outbox_unparked", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parked_reason")
        batch.drop_column("parked_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("status_note")
