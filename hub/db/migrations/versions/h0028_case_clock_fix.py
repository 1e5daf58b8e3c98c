"""A case's ``clock_fix_s``: how far its terminal's clock was set after it accepted the case.

A Raspberry Pi has no clock battery: after a power cut it starts at the time it last saved, and NTP sets it
only once the link to the centre is back. Cases accepted in between carry a stamp hours (or a year) early;
the terminal now says by how much its clock was set, and the hub counts the promise from the corrected
time (a year-end review found such cases due, and red, on arrival).

Revision ID: h0028_case_clock_fix
Revises: h0027_calendar_years_complete
"""

import sqlalchemy as sa
from alembic import op

revision = "h0028_case_clock_fix"
down_revision = "h0027_calendar_years_complete"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("clock_fix_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("clock_fix_s")
