"""Terminal audit keys and seals at append (issue 15).

- ``terminal_audit_keys``: the public half of each terminal's audit signing key; the hub verifies the
  terminal's chain with it and cannot forge it.
- ``terminal_audit_segments.sig``: the terminal's signature of each entry as it sent it up.

Revision ID: h0021
Revises: h0020
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0021"
down_revision = "h0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terminal_audit_keys",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.add_column("terminal_audit_segments", sa.Column("sig", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("terminal_audit_segments", "sig")
    op.drop_table("terminal_audit_keys")
