"""Reconciled: when the hub last confirmed it holds a case or rating (nightly reconciliation).

Retention purges only what the hub confirmed in a reconciliation, not merely acked (issue 15): an ack
can be undone by a restore of the hub's database from an older backup, and the terminal's sealed copy
is then the only one left. Rows from before this revision start unreconciled; the next night confirms
them.

``hub_anchors``: the hub's signed daily audit anchors as this terminal received them (retained on
``shegong/v1/hub/anchor``), kept as a witness of the hub's chain (protocol.witness).

Revision ID: e0015
Revises: e0014 (fix-edge-outbox's, cherry-picked onto this branch)
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0015"
down_revision = "e0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("reconciled_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("reconciled_at", UTCDateTime(), nullable=True))
    op.create_table(
        "hub_anchors",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_anchors")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("reconciled_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("reconciled_at")
