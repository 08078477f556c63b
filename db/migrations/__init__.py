"""Alembic migrations of the engine database; run them with ``db.migrate.upgrade``."""
