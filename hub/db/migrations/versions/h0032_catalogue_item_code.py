"""An index on ``catalogue_items.code``: the newest version that listed an item, asked by code.

A case of an item the catalogue in force withdrew is promised as the last published version listing it
(:meth:`hub.catalogue.store.CatalogueStore.last_listing`). The primary key (version, code) cannot answer
that by code: every version's rows were read, once per unknown code a terminal sent (a review).

Revision ID: h0032_catalogue_item_code
Revises: h0031_case_printed_receipt
"""

from alembic import op

revision = "h0032_catalogue_item_code"
down_revision = "h0031_case_printed_receipt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_catalogue_items_code", "catalogue_items", ["code"])


def downgrade() -> None:
    op.drop_index("ix_catalogue_items_code", table_name="catalogue_items")
