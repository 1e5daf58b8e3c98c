"""Open311 partners' refused POSTs (the per-partner request limit, ``[open311] partner_requests``).

- ``open311_partners.refused``: POSTs refused over the limit, in all;
- ``open311_partners.last_refused_at``: the latest.

Revision ID: h0022_dedup_open311_refusals
Revises: h0021
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0022_dedup_open311_refusals"
down_revision = "h0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("open311_partners") as batch:
        batch.add_column(sa.Column("refused", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_refused_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("open311_partners") as batch:
        batch.alter_column("refused", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("open311_partners") as batch:
        batch.drop_column("last_refused_at")
        batch.drop_column("refused")
