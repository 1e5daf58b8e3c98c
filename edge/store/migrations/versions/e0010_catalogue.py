"""The catalogue published by the hub, applied here in one transaction.

Revision ID: e0010
Revises: e0003
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0010"
down_revision = "e0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_items",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
    )
    op.create_table(
        "catalogue_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("departments", sa.String(), nullable=False),
        sa.Column("applied_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalogue_state")
    op.drop_table("catalogue_items")
