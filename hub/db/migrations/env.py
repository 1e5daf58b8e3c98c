"""Alembic environment for the hub database; run through ``hub.db.engine.migrate``."""

from alembic import context

from hub.db.models import HubModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=HubModel.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
