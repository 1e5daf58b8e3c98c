"""A terminal's catalogue version kept in one place: ``fleet_terminals.catalogue_version``.

``terminals.catalogue_version`` repeated it (ingest wrote it from births and heartbeats, the fleet from
reports too); it is dropped. A terminal without a fleet row yet gets one with the version it had, so
nothing shown is lost; the next heartbeat brings it up to date anyway.

Revision ID: h0023_one_catalogue_version
Revises: h0022_dedup_open311_refusals
"""

import sqlalchemy as sa
from alembic import op

revision = "h0023_one_catalogue_version"
down_revision = "h0022_dedup_open311_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO fleet_terminals (terminal_id, state, catalogue_version, catalogue_error) "
        "SELECT terminal_id, 'unknown', catalogue_version, '' FROM terminals "
        "WHERE terminal_id NOT IN (SELECT terminal_id FROM fleet_terminals)"
    )
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("catalogue_version")


def downgrade() -> None:
    with op.batch_alter_table("terminals") as batch:
        batch.add_column(sa.Column("catalogue_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("terminals") as batch:
        batch.alter_column("catalogue_version", server_default=None)
    op.execute(
        "UPDATE terminals SET catalogue_version = (SELECT f.catalogue_version FROM fleet_terminals f "
        "WHERE f.terminal_id = terminals.terminal_id) "
        "WHERE terminal_id IN (SELECT terminal_id FROM fleet_terminals)"
    )
