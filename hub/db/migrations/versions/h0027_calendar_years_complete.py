"""A year in ``calendar_years`` is one whose arrangement someone said is complete.

Before, entering any day of a year added it there, so one holiday entered (元旦) made the whole year count
as known: its dates stopped being tentative on receipts and the portal, and the pages stopped asking for
the rest (a year-end review). Years added that way (source ``administrator``) are taken out: the pages ask
again, and the operator confirms each once its arrangement is entered (``/calendar``, ``shegong hub
calendar complete YEAR``). The years the release shipped stay.

Revision ID: h0027_calendar_years_complete
Revises: h0026_rating_stamps
"""

from alembic import op

revision = "h0027_calendar_years_complete"
down_revision = "h0026_rating_stamps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM calendar_years WHERE source = 'administrator'")


def downgrade() -> None:
    # Before this revision every year with an entered day was in the table.
    op.execute(
        "INSERT INTO calendar_years (year, source, updated_at)"
        " SELECT DISTINCT CAST(substr(CAST(day AS VARCHAR), 1, 4) AS INTEGER), 'administrator', CURRENT_TIMESTAMP"
        " FROM calendar_days WHERE CAST(substr(CAST(day AS VARCHAR), 1, 4) AS INTEGER)"
        " NOT IN (SELECT year FROM calendar_years)"
    )
