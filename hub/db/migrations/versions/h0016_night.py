"""The night (issue 15): each terminal's nightly result, the hub's signed daily audit anchors, the
terminals' audit segments and the hub anchors each terminal witnessed, and a MAC beside each hub audit
entry (keyed with a secret kept outside the database).

Revision ID: h0016
Revises: h0015
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import BigIntPK, UTCDateTime

revision = "h0016"
down_revision = "h0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "night_results",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
    )
    op.create_table(
        "audit_day_anchors",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("entries", BigIntPK, nullable=False),
        sa.Column("last_id", BigIntPK, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_table(
        "audit_witnesses",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("entries", BigIntPK, nullable=False),
        sa.Column("last_id", BigIntPK, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "terminal_audit_segments",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("entry_id", BigIntPK, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("mac")
    op.drop_table("terminal_audit_segments")
    op.drop_table("audit_witnesses")
    op.drop_table("audit_day_anchors")
    op.drop_table("night_results")
