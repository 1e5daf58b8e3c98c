"""A case's promised completion date kept here (``cases.due_date``): 我的办件 and a receipt's progress show the
date the receipt printed, then the centre's (each case event carries it, moved later by a 补正 pause).
Cases already here have none until the centre's next event brings it.

Revision ID: e0019
Revises: e0018
"""

import sqlalchemy as sa
from alembic import op

revision = "e0019"
down_revision = "e0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("due_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("due_date")
