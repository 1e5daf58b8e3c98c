"""Alembic environment for the edge database; run through ``edge.store.db.migrate``."""

from alembic import context

from edge.store.models import EdgeModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=EdgeModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
