"""Keep only what the kiosk shows: no rating reasons, no departments of case events.

A rating's free-text reason travels to the hub in its outbox item and is not needed here after that;
the department of a case event is never shown at the kiosk. Both columns go, with what they held.

Revision ID: e0013
Revises: e0012
"""

import sqlalchemy as sa
from alembic import op

revision = "e0013"
down_revision = "e0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("department")


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("department", sa.String(), nullable=False, server_default=""))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("reason", sa.String(), nullable=False, server_default=""))
