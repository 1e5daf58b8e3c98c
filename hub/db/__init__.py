"""The hub's store: one schema on SQLite or PostgreSQL, migrated by Alembic."""
