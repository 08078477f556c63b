"""Schema migrations, run from code: ``switchover db upgrade`` and ``switchover up`` call
``upgrade``. Alembic is configured here, so the repository needs no alembic.ini.

To write a new migration after changing ``db/models.py``::

    python -c "from db.migrate import revision; revision('add systems', autogenerate=True)"

then read and tidy the generated file in ``db/migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from config.settings import Settings
from db.session import create_database_engine, database_url, translate_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, settings: Settings | None = None) -> Config:
    """An Alembic configuration for the engine database, built without an ini file.

    Args:
        url: the database URL; default the settings' ``resolved_database_url``.
        settings: settings to read the default from; default ``get_settings()``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # In attributes, not in the main options: an ini value would treat '%' in a password
    # as interpolation.
    config.attributes["url"] = database_url(url, settings)
    return config


def upgrade(
    url: str | None = None, revision: str = "head", *, settings: Settings | None = None
) -> None:
    """Bring the engine database's schema up to ``revision`` (default: the newest).

    Safe to run at every start: at the newest revision it does nothing, and on PostgreSQL
    concurrent runs wait for each other.

    Raises:
        DatabaseError: the database cannot be reached, or a lock or statement timed out.
    """
    with translate_errors():
        command.upgrade(alembic_config(url, settings), revision)


def downgrade(
    url: str | None = None, revision: str = "-1", *, settings: Settings | None = None
) -> None:
    """Step the schema back to ``revision`` (default: one step)."""
    with translate_errors():
        command.downgrade(alembic_config(url, settings), revision)


def revision(message: str, *, autogenerate: bool = True, url: str | None = None) -> None:
    """Write a new migration file, diffed against the database at ``url`` when autogenerating."""
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


def current_revision(url: str | None = None, settings: Settings | None = None) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = create_database_engine(database_url(url, settings), pooled=False)
    try:
        with translate_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
