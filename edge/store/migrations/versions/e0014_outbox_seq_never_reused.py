"""Outbox sequence numbers are never reused: the outbox key becomes AUTOINCREMENT.

A plain integer primary key takes max(seq) + 1, so once the hub's acks had emptied the outbox the next
item got seq 1 again, below the sync agent's cursor ("sent up to seq N"): a case accepted after a full
drain stayed unsent until the link next dropped. With AUTOINCREMENT SQLite keeps the highest seq ever
used (in ``sqlite_sequence``) and never hands out a lower one. The table is rebuilt with its rows.

Revision ID: e0014
Revises: e0013
"""

from alembic import op

revision = "e0014"
down_revision = "e0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    with op.batch_alter_table("outbox", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
