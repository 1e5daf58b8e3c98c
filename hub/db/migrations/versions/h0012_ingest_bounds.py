"""Ingest that one terminal cannot stop (issue 10): bounded dead letters, the terminal register, receipt
numbers unique per committee.

- ``dead_letters`` get the SHA-256 of what arrived and an index per terminal and time; rows already there
  keep at most their first 4 KiB, and those refused as ``invalid_id_number`` lose their payload (it was
  the opened case: a resident's ID number and name).
- ``dead_letter_counts`` counts every dead letter per terminal and reason, seeded from the rows there.
- ``terminal_register`` holds each terminal's committee, seeded with the one committee each terminal's
  cases named so far (a terminal whose cases named several is left for the operator to register).
- ``cases`` get a unique key on (committee, receipt_no). Should two cases already share one, the upgrade
  stops and names them: which one is right is for a person to decide.

Revision ID: h0012
Revises: h0011
"""

import sqlalchemy as sa
from alembic import op

from kernel.db import MigrationRefused, UTCDateTime

revision = "h0012"
down_revision = "h0011"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PREFIX = 4096


def upgrade() -> None:
    conn = op.get_bind()
    twice = conn.execute(
        sa.text("SELECT committee, receipt_no, count(*) FROM cases GROUP BY committee, receipt_no HAVING count(*) > 1")
    ).all()
    if twice:
        named = ", ".join(f"{r[1]} ({r[2]} cases)" for r in twice[:10])
        raise MigrationRefused(
            f"{len(twice)} receipt number(s) name more than one case of their committee: {named}. "
            "Decide which case keeps each number, give the others a new receipt number, then upgrade again."
        )
    with op.batch_alter_table("cases") as batch:
        batch.create_unique_constraint("ux_cases_committee_receipt", ["committee", "receipt_no"])

    op.add_column("dead_letters", sa.Column("sha256", sa.String(64), nullable=True))
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_index("ix_dead_letters_terminal_id")
        batch.create_index("ix_dead_letters_terminal_at", ["terminal_id", "received_at"])
    sqlite = conn.dialect.name == "sqlite"
    empty, cut = (
        ("X''", f"substr(payload, 1, {_PREFIX})")
        if sqlite
        else ("''::bytea", f"substring(payload from 1 for {_PREFIX})")
    )
    op.execute(f"UPDATE dead_letters SET payload = {empty} WHERE reason = 'invalid_id_number'")
    op.execute(f"UPDATE dead_letters SET payload = {cut} WHERE length(payload) > {_PREFIX}")

    op.create_table(
        "dead_letter_counts",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(32), primary_key=True),
        sa.Column("count", _BIGINT, nullable=False),
        sa.Column("dropped", _BIGINT, nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO dead_letter_counts (terminal_id, reason, count, dropped, last_at) "
        "SELECT coalesce(terminal_id, ''), reason, count(*), 0, max(received_at) FROM dead_letters "
        "GROUP BY coalesce(terminal_id, ''), reason"
    )

    op.create_table(
        "terminal_register",
        sa.Column("terminal_id", sa.String(64), primary_key=True),
        sa.Column("committee", sa.String(16), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
    )
    op.execute(
        "INSERT INTO terminal_register (terminal_id, committee, registered_at, registered_by) "
        "SELECT terminal_id, min(committee), min(received_at), 'migration h0012' FROM cases "
        "GROUP BY terminal_id HAVING count(DISTINCT committee) = 1"
    )


def downgrade() -> None:
    op.drop_table("terminal_register")
    op.drop_table("dead_letter_counts")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_index("ix_dead_letters_terminal_at")
        batch.create_index("ix_dead_letters_terminal_id", ["terminal_id"])
        batch.drop_column("sha256")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("ux_cases_committee_receipt", type_="unique")
