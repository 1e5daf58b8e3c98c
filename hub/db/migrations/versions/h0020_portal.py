"""The resident portal's look-up limits (issue 16): ``portal_failures`` counts wrong progress look-ups per
client and per receipt number in short buckets; no ID number or query code is kept.

Revision ID: h0020
Revises: h0019
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0020"
down_revision = "h0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_failures",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("bucket", UTCDateTime(), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_portal_failures_bucket", "portal_failures", ["bucket"])


def downgrade() -> None:
    op.drop_index("ix_portal_failures_bucket", table_name="portal_failures")
    op.drop_table("portal_failures")
