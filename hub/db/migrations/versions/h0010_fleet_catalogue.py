"""Fleet health and catalogue publishing: catalogue versions and items, the fleet's view of each terminal,
sampled heartbeats, link events and alerts.

Revision ID: h0010
Revises: h0003
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0010"
down_revision = "h0003"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("manifest_hash", sa.String(80), nullable=False),
        sa.Column("departments", sa.Text(), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("published_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_catalogue_versions_published_at", "catalogue_versions", ["published_at"])
    op.create_table(
        "catalogue_items",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "fleet_terminals",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", UTCDateTime(), nullable=True),
        sa.Column("last_heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("last_sample_at", UTCDateTime(), nullable=True),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("catalogue_version_at", UTCDateTime(), nullable=True),
        sa.Column("catalogue_error", sa.String(300), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "fleet_heartbeats",
        sa.Column("id", _BIGINT, primary_key=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("uptime_s", sa.Float(), nullable=False),
        sa.Column("outbox_depth", sa.Integer(), nullable=False),
        sa.Column("oldest_unsent_age_s", sa.Float(), nullable=True),
        sa.Column("parked", sa.Integer(), nullable=False),
        sa.Column("disk_free_mb", sa.Float(), nullable=False),
        sa.Column("clock_skew_s", sa.Float(), nullable=True),
        sa.Column("app_version", sa.String(32), nullable=False),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("reader", sa.String(32), nullable=False),
        sa.Column("printer", sa.String(32), nullable=False),
        sa.Column("alarms", sa.String(300), nullable=False),
    )
    op.create_index("ix_fleet_heartbeats_at", "fleet_heartbeats", ["at"])
    op.create_index("ix_fleet_heartbeats_terminal_at", "fleet_heartbeats", ["terminal_id", "at"])
    op.create_table(
        "fleet_link_events",
        sa.Column("id", _BIGINT, primary_key=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bd_seq", _BIGINT, nullable=True),
    )
    op.create_index("ix_fleet_link_events_at", "fleet_link_events", ["at"])
    op.create_index("ix_fleet_link_events_terminal_at", "fleet_link_events", ["terminal_id", "at"])
    op.create_table(
        "fleet_alerts",
        sa.Column("id", _BIGINT, primary_key=True),
        sa.Column("terminal_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_fleet_alerts_raised_at", "fleet_alerts", ["raised_at"])
    op.create_index("ix_fleet_alerts_cleared_at", "fleet_alerts", ["cleared_at"])
    op.create_index("ix_fleet_alerts_terminal_raised", "fleet_alerts", ["terminal_id", "raised_at"])
    op.create_index(
        "ux_fleet_alerts_active",
        "fleet_alerts",
        ["terminal_id", "kind"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )


def downgrade() -> None:
    for table in (
        "fleet_alerts",
        "fleet_link_events",
        "fleet_heartbeats",
        "fleet_terminals",
        "catalogue_items",
        "catalogue_versions",
    ):
        op.drop_table(table)
