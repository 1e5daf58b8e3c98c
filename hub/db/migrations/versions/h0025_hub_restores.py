"""Restores recorded: ``hub_restores`` (issue 17's catalogue numbering after a restore).

A backup written over the database takes its catalogue back to the backup's newest version, and its
partner (Open311) receipts back to the backup's: versions published and requests numbered after it are gone
from the hub, but terminals may run those versions and partners hold those request ids. Each ``shegong hub
restore`` adds a row with the number the catalogue's versions continue above and, for the day of the
restore, the number partner receipts continue above, so no number is given twice.

Revision ID: h0025_hub_restores
Revises: h0024_no_redundant_indexes
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0025_hub_restores"
down_revision = "h0024_no_redundant_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_restores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("restored_at", UTCDateTime(), nullable=False),
        sa.Column("backup", sa.String(255), nullable=False),
        sa.Column("restored_by", sa.String(64), nullable=False),
        sa.Column("catalogue_above", sa.Integer(), nullable=False),
        sa.Column("open311_day", sa.Date(), nullable=False),
        sa.Column("open311_above", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_restores")
