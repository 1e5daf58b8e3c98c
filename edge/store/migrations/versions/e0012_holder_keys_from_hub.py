"""Holder keys under the hub's lookup key: the device key beside the database goes.

Holder keys were ``HMAC(device.key, id_number)`` with ``device.key`` stored next to ``edge.db``: anyone
with the disk could test every plausible ID number against them in seconds. They are cleared here and
``device.key`` is deleted; the terminal asks the hub for the holder keys of its acked cases on its next
connect (protocol.lookup), and acks carry them for the rest.

Revision ID: e0012
Revises: e0011
"""

from pathlib import Path

from alembic import op

revision = "e0012"
down_revision = "e0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE cases SET holder_key = '' WHERE holder_key != ''")
    op.execute("DELETE FROM meta WHERE key = 'lookup_key_id'")
    database = op.get_bind().engine.url.database
    if database and database != ":memory:":
        (Path(database).parent / "device.key").unlink(missing_ok=True)


def downgrade() -> None:
    """Nothing to restore: the old keys are gone with the device key, and a new one would not match them."""
