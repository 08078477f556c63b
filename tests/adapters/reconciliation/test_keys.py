"""Composite and text keys (streamed, merged by key), and SQLite on both sides."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.reconciliation import engine as engine_module
from adapters.reconciliation import open_reconciler
from config.migration_plan import MigrationPlan
from tests.adapters.reconciliation.conftest import make_target, target_url
from tests.legacy_connectors.conftest import mariadb_admin

# Mixed case and accents: MariaDB's case-insensitive collation and PostgreSQL's order
# these differently, which the merge must survive.
VISITS = [
    (region, num, f"visit {region}{num}")
    for region in ["abc", "ABD", "Abe", "zed", "Ödön", "_x", "b"]
    for num in range(1, 40)
]


@pytest.fixture(scope="module")
def keyed_legacy(legacy_db: str) -> str:
    admin = mariadb_admin()
    database = legacy_db.rsplit("/", 1)[1]
    with admin.cursor() as cur:
        cur.execute(f"USE `{database}`")
        cur.execute(
            "CREATE TABLE visits (region VARCHAR(8), num INT, note VARCHAR(40),"
            " PRIMARY KEY (region, num))"
        )
        cur.executemany("INSERT INTO visits VALUES (%s, %s, %s)", VISITS)
        cur.execute("CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, label VARCHAR(40))")
        cur.executemany(
            "INSERT INTO codes VALUES (%s, %s)", [(f"{r}-{n}", note) for r, n, note in VISITS]
        )
    admin.close()
    return legacy_db


def _plan(legacy: str, target: str, table: dict[str, object]) -> MigrationPlan:
    return MigrationPlan.model_validate({
        "system": {"id": "legacy-visits", "name": "Visits"},
        "source": {"kind": "sql", "url": legacy},
        "target": {"url": target},
        "tables": [table],
    })  # fmt: skip


def test_composite_keys(keyed_legacy: str, target_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    suspects: list[object] = []
    real = engine_module.Reconciler._compare_keys

    def spy(self, t, keys, findings):  # type: ignore[no-untyped-def]
        suspects.extend(keys)
        return real(self, t, keys, findings)

    monkeypatch.setattr(engine_module.Reconciler, "_compare_keys", spy)
    rows = [r for r in VISITS if (r[0], r[1]) != ("Abe", 3)]
    rows = [(r, n, "changed" if (r, n) == ("zed", 7) else note) for r, n, note in rows]
    rows.append(("ABD", 99, "extra"))
    make_target(target_db, "visits", rows,
                "CREATE TABLE {name} (region VARCHAR(8), num INTEGER, note VARCHAR(40),"
                " PRIMARY KEY (region, num))")  # fmt: skip
    plan = _plan(keyed_legacy, target_url(target_db),
                 {"source": "visits", "target": "visits", "key": ["region", "num"]})  # fmt: skip
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("visits")
    assert report.method == "streamed"
    assert report.legacy_rows == len(VISITS)
    assert report.missing == [["Abe", 3]]
    assert report.extra == [["ABD", 99]]
    assert [(c.key, c.columns) for c in report.changed] == [
        (["zed", 7], {"note": ("visit zed7", "changed")})
    ]
    # Both databases hashed the rows alike: only the changed row's hashes differed.
    assert suspects == [("zed", 7)]


def test_text_keys_with_a_char_target_key(keyed_legacy: str, target_db: str) -> None:
    rows = [(f"{r}-{n}", note) for r, n, note in VISITS]
    rows = [(code, note) for code, note in rows if code != "b-5"]
    make_target(target_db, "codes", rows,
                "CREATE TABLE {name} (code CHAR(10) PRIMARY KEY, label VARCHAR(40))")  # fmt: skip
    plan = _plan(keyed_legacy, target_url(target_db),
                 {"source": "codes", "target": "codes", "key": ["code"]})  # fmt: skip
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("codes")
    assert report.missing == [["b-5"]]
    assert (report.extra, report.changed) == ([], [])


def _sqlite(path: Path, rows: list[tuple[object, ...]]) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, holder TEXT, balance NUMERIC(10,2),"
            " opened TEXT)"
        )
        conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", rows)
    conn.close()
    return f"sqlite:///{path}"


def test_sqlite_on_both_sides(tmp_path: Path) -> None:
    legacy_rows = [(i, f"holder {i}", f"{i}.50", "20200101") for i in range(1, 301)]
    target_rows = [(i, h.upper(), b, o) for i, h, b, o in legacy_rows if i != 10]
    target_rows[20] = (22, "SOMEONE ELSE", "22.50", "20200101")
    target_rows.append((500, "EXTRA", "1.00", None))
    plan = _plan(
        _sqlite(tmp_path / "legacy.db", legacy_rows),
        _sqlite(tmp_path / "target.db", target_rows),
        {"source": "accounts", "target": "accounts", "key": ["id"],
         "columns": {"holder": {"to": "holder", "transform": "upper"}}},
    )  # fmt: skip
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("accounts")
    assert report.method == "streamed"
    assert report.missing == [[10]]
    assert report.extra == [[500]]
    assert [(c.key, c.columns) for c in report.changed] == [
        ([22], {"holder": ("HOLDER 22", "SOMEONE ELSE")})
    ]
