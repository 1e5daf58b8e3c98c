"""A receipt series per terminal: two terminals of one committee make different receipt numbers.

Receipt numbers are made offline at each terminal (committee, day, sequence), so two terminals of one
committee made the same numbers and the hub refused the second terminal's cases (``duplicate_receipt``).
Each terminal now gets a series digit at provisioning (``shegong hub terminal register T --committee C
--series N``), unique within its committee; the terminal puts it first in its sequence. Terminals
registered before have none (NULL: a unique index counts NULLs apart on SQLite and PostgreSQL).

Revision ID: h0015
Revises: h0014
"""

import sqlalchemy as sa
from alembic import op

revision = "h0015"
down_revision = "h0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("terminal_register") as batch:
        batch.add_column(sa.Column("receipt_series", sa.Integer(), nullable=True))
    op.create_index("ux_terminal_register_series", "terminal_register", ["committee", "receipt_series"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_terminal_register_series", "terminal_register")
    with op.batch_alter_table("terminal_register") as batch:
        batch.drop_column("receipt_series")
