"""The terminal's audit trail: a hash chain of entries and its anchor row.

Revision ID: e0011
Revises: e0010
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "e0011"
down_revision = "e0010"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64  # protocol.auditchain.GENESIS, frozen here as a migration must be


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("data", sa.String(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    anchor = op.create_table(
        "audit_anchor",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=True),
    )
    op.bulk_insert(anchor, [{"id": 1, "entries": 0, "last_id": 0, "head_hash": _GENESIS, "at": None}])


def downgrade() -> None:
    op.drop_table("audit_anchor")
    op.drop_table("audit_entries")
