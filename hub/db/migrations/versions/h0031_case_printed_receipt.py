"""A case's ``printed_receipt_no``: the number on the resident's receipt, where the hub gave another.

A terminal whose storage lost its last cases after a power cut (an SD card that reported writes done from
its cache) gave their receipt numbers again to the next residents. The hub refused those cases as
``duplicate_receipt`` and the terminal parked them: staff had to take the application again. The hub now
takes such a case under a number of its own (``…-9nnnnn``) and keeps the printed one here, so the
resident's receipt still finds it on the portal and at the window.

Revision ID: h0031_case_printed_receipt
Revises: h0030_case_work_pause
"""

import sqlalchemy as sa
from alembic import op

revision = "h0031_case_printed_receipt"
down_revision = "h0030_case_work_pause"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("printed_receipt_no", sa.String(length=40), nullable=True))
    op.create_index("ix_cases_printed_receipt_no", "cases", ["printed_receipt_no"])


def downgrade() -> None:
    op.drop_index("ix_cases_printed_receipt_no", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("printed_receipt_no")
