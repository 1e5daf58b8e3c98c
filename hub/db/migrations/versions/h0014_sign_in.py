"""Sign-in without account lockout (issue 10): failed sign-ins go to an hourly tally instead of a lock
and an audit entry each, and a session epoch per user voids every session at a password change.

``users.failed_logins`` and ``users.locked_until`` go: a lock is gone with them (a lock in force at the
upgrade ends there, and the per-client backoff takes over).

Revision ID: h0014
Revises: h0011
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0014"
down_revision = "h0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("session_epoch", server_default=None)
    op.create_table(
        "login_failures",
        sa.Column("window_start", UTCDateTime(), primary_key=True),
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_login_failures_client", "login_failures", ["client", "window_start"])
    op.create_index("ix_login_failures_username", "login_failures", ["username", "window_start"])


def downgrade() -> None:
    op.drop_table("login_failures")
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UTCDateTime(), nullable=True))
        batch.drop_column("session_epoch")
