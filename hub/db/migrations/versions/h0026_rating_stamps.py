"""Ratings keep the terminal's own stamp: ``ratings.stamped_at``.

The hub re-dates a rating by its own clock when the terminal's was far off (the reports count it in the
period it was made), but nightly reconciliation files each item under the terminal's local day on both
sides: re-dated across midnight, a rating was missing from the hub's day every night. Ratings already held
take their ``rated_at`` (whether it was re-dated is not recorded).

Revision ID: h0026_rating_stamps
Revises: h0025_hub_restores
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0026_rating_stamps"
down_revision = "h0025_hub_restores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ratings", sa.Column("stamped_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE ratings SET stamped_at = rated_at")


def downgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("stamped_at")
