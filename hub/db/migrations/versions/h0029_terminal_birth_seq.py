"""A terminal's ``birth_seq``: the message number of the birth on record.

A hub worker that subscribes again (restarted, or the broker restarted) is sent every terminal's retained
birth. With the session's number (``bd_seq``) equal to the one on record it was taken as new: each
terminal's clock checked against the birth's old stamp (a false clock alert), its last sequence number
set back (gaps counted after it) and every event since the birth's watermark sent again (a chaos review:
3,240 events resent over an 18-minute run; at 6,000 terminals a storm at each restart). A birth of the
session on record is new only when its message number is above the one recorded: a birth the hub asked
for (REBIRTH) is; the retained one read back is not.

Revision ID: h0029_terminal_birth_seq
Revises: h0028_case_clock_fix
"""

import sqlalchemy as sa
from alembic import op

revision = "h0029_terminal_birth_seq"
down_revision = "h0028_case_clock_fix"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as the model's (kernel.db.BigIntPK)
    op.add_column("terminals", sa.Column("birth_seq", big, nullable=False, server_default="-1"))


def downgrade() -> None:
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("birth_seq")
