"""The engine's own state: SQLAlchemy 2 models, sessions, Alembic migrations."""
