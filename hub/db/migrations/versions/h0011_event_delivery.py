"""Case events remember when the broker acknowledged them: ``case_events.published_at``, and a partial
index over the events still waiting for it, which the hub resends.

Events already there were handled by the old scheme (published once, resent at a terminal's birth):
they count as published at their own time.

Revision ID: h0011
Revises: h0010
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0011"
down_revision = "h0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_events", sa.Column("published_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE case_events SET published_at = at")
    op.create_index(
        "ix_case_events_unpublished",
        "case_events",
        ["id"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_events_unpublished", table_name="case_events")
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("published_at")
