"""Audit entries signed at append (issue 15): ``audit_entries.sig``, the Ed25519 signature of the entry's
hash with this terminal's audit key (a file outside the database, ``audit_key_file``).

Entries from before this revision have none; the terminal signs them at its next start, after checking
that the chain holds up to them (edge.store.audit.seal).

Revision ID: e0016
Revises: e0015
"""

import sqlalchemy as sa
from alembic import op

revision = "e0016"
down_revision = "e0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("sig", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_column("sig")
