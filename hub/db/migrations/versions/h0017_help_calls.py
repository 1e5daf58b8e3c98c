"""Help calls and committee names (issue 11): a resident's 呼叫工作人员 is a fleet alert that a named
person acknowledges, and the hub knows each committee's name.

- ``fleet_alerts`` get ``acknowledged_at``, ``acknowledged_by`` (user name), ``responder`` (the name the
  terminal shows) and ``ack_sent_at`` (when the answer last went to the terminal).
- ``committees``: code → name, set at provisioning.

Revision ID: h0017
Revises: h0016
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0017"
down_revision = "h0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_alerts") as batch:
        batch.add_column(sa.Column("acknowledged_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("responder", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("ack_sent_at", UTCDateTime(), nullable=True))
    op.create_table(
        "committees",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("committees")
    with op.batch_alter_table("fleet_alerts") as batch:
        batch.drop_column("ack_sent_at")
        batch.drop_column("responder")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
