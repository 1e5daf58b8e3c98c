"""Satisfaction ratings from the kiosks.

Revision ID: h0002
Revises: h0001
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0002"
down_revision = "h0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("rating_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("committee", sa.String(16), nullable=False),
        sa.Column("receipt_no", sa.String(40), nullable=False),
        sa.Column("item_code", sa.String(64), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rated_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ratings_case_id", "ratings", ["case_id"])
    op.create_index("ix_ratings_item_code", "ratings", ["item_code"])
    op.create_index("ix_ratings_level", "ratings", ["level"])
    op.create_index("ix_ratings_received_at", "ratings", ["received_at"])


def downgrade() -> None:
    op.drop_table("ratings")
