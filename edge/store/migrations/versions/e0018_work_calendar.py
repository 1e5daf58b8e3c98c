"""The hub's holiday calendar kept here (``work_calendar``): the kiosk counts the completion dates it
promises, and the day it suggests for a visit to the centre, on the calendar the centre counts its due
dates by, as the hub publishes it (``shegong/v1/hub/calendar``), not on the one shipped with the release.

Revision ID: e0018
Revises: e0017
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0018"
down_revision = "e0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_calendar",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("work_calendar")
