"""Alembic's environment: how migrations reach the database.

Run through ``db.migrate`` (``switchover db upgrade``), which puts the URL, or an open
connection, in ``config.attributes``. There is no alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from db.models import Base
from db.session import create_database_engine

# Held while migrating, so that two processes starting at once (``switchover up`` on two
# machines) do not both run the same migration. Any fixed number; this one spells "swov".
MIGRATION_LOCK_ID = 0x73776F76

# Warehouse's rule: a migration that waits for a lock or runs long fails fast, instead of
# queueing every request of a live service behind it.
LOCK_TIMEOUT = "4s"
STATEMENT_TIMEOUT = "5s"

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.attributes.get("url") or config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the given connection, or a connection to the given URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: call db.migrate.upgrade(url)")
    engine = create_database_engine(url, sqlite_foreign_keys=False, pooled=False)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Session-level settings, committed before the migrations' transactions.
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.execute(text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
                connection.execute(text(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
                connection.commit()
            try:
                _configure(connection)
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                if connection.dialect.name == "postgresql":
                    connection.rollback()
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
