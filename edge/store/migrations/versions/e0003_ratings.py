"""Satisfaction ratings given at the kiosk.

Revision ID: e0003
Revises: e0002
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0003"
down_revision = "e0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("rating_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("rated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ratings_case_id", "ratings", ["case_id"])


def downgrade() -> None:
    op.drop_table("ratings")
