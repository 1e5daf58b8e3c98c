"""When a case's 补正 pause began and ended, and its due dates before it: a past period's 超期 stays.

A period's overdue figure counts the cases running at its end past their due date. It read today's status
and today's due date, so a 补正 notice sent after the period took a late case out of it (waiting in 补正
now), and its resumption moved the due date on past the period's end: a late case could be taken out of
last month's figures (a numbers review). A case has at most one 补正 notice (一次性告知), so one pause:

- ``case_work.pause_began`` / ``pause_ended``: when it began and ended (``paused_at`` is cleared at the end);
- ``case_work.due_before_pause`` / ``statutory_before_pause``: the due dates as they stood when it began.

A case waiting in 补正 now gets its pause's start and dates from what is stored (the dates move only as
it resumes). A pause that has ended already is not known: such a case's past figures stay as they were.

Revision ID: h0030_case_work_pause
Revises: h0029_terminal_birth_seq
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import UTCDateTime

revision = "h0030_case_work_pause"
down_revision = "h0029_terminal_birth_seq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_work", sa.Column("pause_began", UTCDateTime(), nullable=True))
    op.add_column("case_work", sa.Column("pause_ended", UTCDateTime(), nullable=True))
    op.add_column("case_work", sa.Column("due_before_pause", sa.Date(), nullable=True))
    op.add_column("case_work", sa.Column("statutory_before_pause", sa.Date(), nullable=True))
    op.execute(
        "UPDATE case_work SET pause_began = paused_at,"
        " due_before_pause = (SELECT due_date FROM cases WHERE cases.case_id = case_work.case_id),"
        " statutory_before_pause = (SELECT statutory_due FROM cases WHERE cases.case_id = case_work.case_id)"
        " WHERE paused_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("case_work") as batch:
        batch.drop_column("statutory_before_pause")
        batch.drop_column("due_before_pause")
        batch.drop_column("pause_ended")
        batch.drop_column("pause_began")
