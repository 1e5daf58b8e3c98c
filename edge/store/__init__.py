"""The terminal's local store: SQLite through SQLModel, WAL, the source of truth for the outbox."""
