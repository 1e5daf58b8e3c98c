"""The hub's tag on each case event kept here (``case_events.tag``), sent back with the event when the
hub, restored from an older backup, asks for the events it lost: it restores only events carrying its tag
(hub.cases.eventtag). Events stored before this revision have none; the hub does not restore those.

Revision ID: e0017
Revises: e0016
"""

import sqlalchemy as sa
from alembic import op

revision = "e0017"
down_revision = "e0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("tag", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("tag")
