"""Issue 16 (public channels): Open311 partners and the requests they made, and the SMS outbox.

- ``open311_partners``: one per partner system (the 12345 hotline), its key's public id and argon2 hash.
- ``open311_requests``: which partner created which case over Open311, under which request id.
- ``sms_outbox``: notices to residents who asked for them at the kiosk, with their retries.

Revision ID: h0019
Revises: h0018
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0019"
down_revision = "h0018"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "open311_partners",
        sa.Column("partner_id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("key_id", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "open311_requests",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("service_request_id", sa.String(40), nullable=False, unique=True),
        sa.Column("partner_id", _BIG, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_open311_requests_created_at", "open311_requests", ["created_at"])
    op.create_index("ix_open311_requests_partner", "open311_requests", ["partner_id", "created_at"])
    op.create_table(
        "sms_outbox",
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_sms_outbox_case_id", "sms_outbox", ["case_id"])
    op.create_index("ix_sms_outbox_due", "sms_outbox", ["sent_at", "failed_at", "next_at"])


def downgrade() -> None:
    op.drop_table("sms_outbox")
    op.drop_table("open311_requests")
    op.drop_table("open311_partners")
