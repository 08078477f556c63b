"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import db
from db.migrate import MIGRATIONS, current_revision, downgrade, head_revision, upgrade
from db.models import Base
from db.session import get_engine

DIGITISATION_TABLES = {
    "documents",
    "quarantined_documents",
    "form_records",
    "review_tasks",
    "ledger_entries",
    "audit_events",
}


def _schema_diffs(url: str) -> list[object]:
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    assert _schema_diffs(db_url) == []


def test_the_migrations_create_exactly_the_tables_of_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    tables = set(inspect(get_engine(url)).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_the_first_migration_creates_the_digitisation_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'first.db'}"
    upgrade(url, "0001")
    tables = set(inspect(get_engine(url)).get_table_names()) - {"alembic_version"}
    assert tables == DIGITISATION_TABLES


def test_upgrade_again_is_a_no_op(db_url: str) -> None:
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()


def test_downgrade_then_upgrade(db_url: str) -> None:
    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert set(inspect(get_engine(db_url)).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    assert _schema_diffs(db_url) == []


def test_upgrade_creates_the_sqlite_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'switchover.db'}"
    try:
        upgrade(url)
        assert current_revision(url) == head_revision()
    finally:
        db.dispose_engines()


def test_migrations_ship_as_package_data() -> None:
    # pyproject's [tool.setuptools.package-data] db = migrations/*.mako, migrations/versions/*.py
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "__init__.py").is_file()  # db.migrations is a package: env.py ships
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    files = sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py"))
    assert files[0] == "0001_digitisation.py"
    # Every file is one revision of a single line of history.
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert len(revisions) == len(files)
    assert not (Path(db.__file__).parents[1] / "alembic.ini").exists()


@pytest.mark.parametrize("url", ["sqlite:///relative/never-used.db"])
def test_alembic_config_keeps_the_url_out_of_the_ini(url: str) -> None:
    from db.migrate import alembic_config

    config = alembic_config(url)
    assert config.attributes["url"] == url
    assert config.get_main_option("sqlalchemy.url") is None
