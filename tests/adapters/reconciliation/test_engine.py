"""The reconciliation engine against real MariaDB (legacy) and PostgreSQL (target)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from adapters.reconciliation import Budgets, open_reconciler
from adapters.reconciliation import engine as engine_module
from config.migration_plan import MigrationPlan
from domain.errors import ValidationFailed
from tests.adapters.reconciliation.conftest import (
    make_target,
    people_plan,
    people_rows,
    planted_rows,
    target_url,
)
from tests.legacy_connectors.conftest import mariadb_admin


@pytest.fixture(autouse=True)
def small_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    # A few thousand rows, bisected over several levels as a million would be.
    monkeypatch.setattr(engine_module, "FIRST_BUCKET_ROWS", 100)
    monkeypatch.setattr(engine_module, "FANOUT", 4)
    monkeypatch.setattr(engine_module, "LEAF_ROWS", 8)


def test_a_faithful_copy_reconciles_exactly(
    legacy_db: str, target_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_target(target_db, "people_exact", people_rows())
    plan = people_plan(legacy_db, target_db, "people_exact")
    read: list[object] = []
    real = engine_module.Reconciler._pair

    def spy(self, t, legacy_rows, target_rows, findings):  # type: ignore[no-untyped-def]
        read.append((legacy_rows, target_rows))
        return real(self, t, legacy_rows, target_rows, findings)

    monkeypatch.setattr(engine_module.Reconciler, "_pair", spy)
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("people")
    # Both databases computed the same checksums for every bucket: no row was read.
    assert read == []
    assert report.passed
    assert report.method == "segments"
    assert report.legacy_rows == report.target_rows == len(people_rows())
    assert (report.missing, report.extra, report.changed) == ([], [], [])


@pytest.mark.parametrize("by_keys", [True, False], ids=["read-by-keys", "read-by-ranges"])
def test_planted_differences_are_found_and_nothing_else(
    legacy_db: str, target_db: str, monkeypatch: pytest.MonkeyPatch, by_keys: bool
) -> None:
    if not by_keys:  # as for sparse keys, whose narrow buckets still span many key values
        monkeypatch.setattr(engine_module, "ENUMERATED_RANGE", 0)
    make_target(target_db, "people_planted", planted_rows())
    plan = people_plan(legacy_db, target_db, "people_planted", tolerance={"balance": 0.01})
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("people_planted")
    assert not report.passed
    assert report.method == "segments"
    assert report.missing == [[17]]
    assert report.extra == [[291], [3001]]
    changed = {tuple(c.key): c.columns for c in report.changed}
    legacy = {r[0]: r for r in people_rows()}
    balance_700 = legacy[700][3]
    assert changed == {
        (451,): {"surname": (legacy[451][1], "Smyth")},
        (700,): {"balance": (str(balance_700), str(balance_700 + Decimal("0.05")))},
    }
    assert (report.missing_count, report.extra_count, report.changed_count) == (1, 2, 2)
    design = report.design_json()
    assert list(design)[:8] == [
        "table", "legacy_rows", "target_rows", "missing", "extra", "changed", "passed",
        "missing_count",
    ]  # fmt: skip
    assert design["changed"][1] == {"key": [700], "columns": {"balance": [
        str(balance_700), str(balance_700 + Decimal("0.05"))]}}  # fmt: skip


def test_the_streamed_path_finds_the_same_differences(
    legacy_db: str, target_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suspects: list[object] = []
    real = engine_module.Reconciler._compare_keys

    def spy(self, t, keys, findings):  # type: ignore[no-untyped-def]
        suspects.extend(keys)
        return real(self, t, keys, findings)

    monkeypatch.setattr(engine_module.Reconciler, "_compare_keys", spy)
    make_target(target_db, "people_streamed", planted_rows())
    # A transform the target's SQL cannot repeat makes the legacy side stream through it.
    plan = people_plan(
        legacy_db, target_db, "people_streamed", tolerance={"balance": 0.01},
        columns={"note": {"to": "note", "transform": "null_if:none"}},
    )  # fmt: skip
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("people")
        keys = reconciler.differing_keys("people")
    assert report.method == "streamed"
    assert report.missing == [[17]]
    assert report.extra == [[291], [3001]]
    assert sorted(tuple(c.key) for c in report.changed) == [(451,), (700,)]
    # Python's hashes of the mapped legacy rows agree with PostgreSQL's of the copies:
    # only rows that differ (600 within tolerance) were read again, once per diff.
    assert sorted(set(suspects)) == [(451,), (600,), (700,)]
    assert sorted(keys.recopy) == [(17,), (451,), (700,)]
    assert sorted(keys.delete) == [(291,), (3001,)]


def test_differing_keys_from_segments_are_exact(legacy_db: str, target_db: str) -> None:
    make_target(target_db, "people_resync", planted_rows())
    plan = people_plan(legacy_db, target_db, "people_resync", tolerance={"balance": 0.01})
    with open_reconciler(plan, budgets=Budgets(samples=1)) as reconciler:
        keys = reconciler.differing_keys("people")
    # Samples are capped in reports, never in the keys a re-sync needs.
    assert sorted(keys.recopy) == [(17,), (451,), (700,)]
    assert sorted(keys.delete) == [(291,), (3001,)]


NORMALISED = (
    "CREATE TABLE {name} (id INTEGER PRIMARY KEY, surname VARCHAR(40), code CHAR(9),"
    " balance NUMERIC(14,4), score DOUBLE PRECISION, seen TIMESTAMP(3), note VARCHAR(20),"
    " born DATE)"
)


def normalised_rows(*, empty_notes: bool) -> list[tuple]:
    """The same values as the engines' types and habits change them."""
    out = []
    for r in people_rows():
        row = list(r)
        row[3] = Decimal(row[3]).quantize(Decimal("0.0001"))  # 12.50 -> 12.5000
        if row[4] == 0.0:
            row[4] = -0.0
        if empty_notes and row[6] is None:
            row[6] = ""
        out.append(tuple(row))
    return out


def test_type_normalisation_hides_no_real_difference(legacy_db: str, target_db: str) -> None:
    # CHAR(9) pads, NUMERIC(14,4) adds zeros, -0.0 for 0, TIMESTAMP(3) rounds microseconds:
    # none of it is a difference.
    make_target(target_db, "people_norm", normalised_rows(empty_notes=False), NORMALISED)
    plan = people_plan(legacy_db, target_db, "people_norm")
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("people")
    assert report.method == "segments"
    assert report.passed, report.design_json()


def test_null_and_empty_are_equal_only_where_the_plan_says(legacy_db: str, target_db: str) -> None:
    make_target(target_db, "people_empty", normalised_rows(empty_notes=True), NORMALISED)
    said = people_plan(legacy_db, target_db, "people_empty",
                       columns={"note": {"to": "note", "transform": "null_if:"}})  # fmt: skip
    with open_reconciler(said) as reconciler:
        report = reconciler.reconcile_table("people")
    assert report.passed, report.design_json()
    unsaid = people_plan(legacy_db, target_db, "people_empty")
    with open_reconciler(unsaid) as reconciler:
        report = reconciler.reconcile_table("people")
    assert not report.passed
    nulls = [r for r in people_rows() if r[6] is None]
    assert report.changed_count == len(nulls)
    assert report.changed[0].columns == {"note": (None, "")}


def test_a_changed_timestamp_beyond_the_precision_is_reported(
    legacy_db: str, target_db: str
) -> None:
    rows = normalised_rows(empty_notes=False)
    index = next(i for i, r in enumerate(rows) if r[0] == 1000)
    moved = list(rows[index])
    moved[5] = moved[5] + dt.timedelta(milliseconds=2)
    rows[index] = tuple(moved)
    make_target(target_db, "people_time", rows, NORMALISED)
    with open_reconciler(people_plan(legacy_db, target_db, "people_time")) as reconciler:
        report = reconciler.reconcile_table("people")
    assert [c.key for c in report.changed] == [[1000]]
    assert list(report.changed[0].columns) == ["seen"]


@pytest.mark.parametrize("transform", [None, "strip"], ids=["segments", "streamed"])
def test_the_diff_budget_stops_early_and_says_so(
    legacy_db: str, target_db: str, transform: str | None
) -> None:
    rows = [(*r[:1], "Renamed", *r[2:]) if r[0] % 10 == 0 else r for r in people_rows()]
    make_target(target_db, "people_renamed", rows)
    columns = {"surname": {"to": "surname", "transform": transform}} if transform else {}
    plan = people_plan(legacy_db, target_db, "people_renamed", columns=columns)
    with open_reconciler(plan, budgets=Budgets(differences=10)) as reconciler:
        report = reconciler.reconcile_table("people")
        with pytest.raises(ValidationFailed, match="diff budget"):
            reconciler.differing_keys("people")
    assert not report.passed
    assert report.stopped is not None
    assert "more than 10 differences (diff budget)" in report.stopped
    assert report.changed_count == 11
    assert report.method == ("streamed" if transform else "segments")


def test_counts_far_apart_stop_before_any_diff(legacy_db: str, target_db: str) -> None:
    make_target(target_db, "people_half", people_rows()[::2])
    plan = people_plan(legacy_db, target_db, "people_half")
    with open_reconciler(plan, budgets=Budgets(differences=10)) as reconciler:
        report = reconciler.reconcile_table("people")
    assert not report.passed
    assert report.stopped is not None
    assert "row counts differ by 1485, more than the diff budget of 10" in report.stopped
    assert (report.legacy_rows, report.target_rows) == (2970, 1485)


def test_the_time_budget_stops_early_and_says_so(legacy_db: str, target_db: str) -> None:
    make_target(target_db, "people_slow", planted_rows())
    plan = people_plan(legacy_db, target_db, "people_slow")
    with open_reconciler(plan, budgets=Budgets(time_s=1e-9)) as reconciler:
        report = reconciler.reconcile_table("people")
    assert not report.passed
    assert report.stopped is not None
    assert "time budget of 1e-09 s ran out" in report.stopped


def test_legacy_oddities_checksum_alike_on_both_engines(legacy_db: str, target_db: str) -> None:
    # Zero dates (no date: NULL in the target), latin1 text, TIME, binary, TINYINT(1).
    admin = mariadb_admin()
    with admin.cursor() as cur:
        cur.execute(f"USE `{legacy_db.rsplit('/', 1)[1]}`")
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "CREATE TABLE odd (id INT PRIMARY KEY, born DATE, seen DATETIME,"
            " name VARCHAR(20) CHARACTER SET latin1, at TIME(3), raw VARBINARY(4), flag TINYINT(1))"
        )
        cur.execute(
            "INSERT INTO odd VALUES (1, '0000-00-00', '2001-05-00 00:00:00', 'Gonçalves',"
            " '12:34:56.789', X'00ff', 1), (2, '1999-12-31', '2020-02-29 23:59:59', NULL,"
            " NULL, NULL, 0), (3, NULL, NULL, 'Ødegård', '-01:00:00', '', NULL)"
        )
    admin.close()
    make_target(target_db, "odd", [
        (1, None, None, "Gonçalves", dt.time(12, 34, 56, 789000), b"\x00\xff", 1),
        (2, dt.date(1999, 12, 31), dt.datetime(2020, 2, 29, 23, 59, 59), None, None, None, 0),
        (3, None, None, "Ødegård", None, b"", None),
    ], "CREATE TABLE {name} (id INTEGER PRIMARY KEY, born DATE, seen TIMESTAMP, name TEXT,"
       " at TIME(3), raw BYTEA, flag SMALLINT)")  # fmt: skip
    plan = MigrationPlan.model_validate({
        "system": {"id": "odd", "name": "Odd"},
        "source": {"kind": "sql", "url": legacy_db},
        "target": {"url": target_url(target_db)},
        "tables": [{"source": "odd", "target": "odd", "key": ["id"]}],
    })  # fmt: skip
    columns = ["id", "born", "seen", "name", "at", "raw", "flag"]
    with open_reconciler(plan) as reconciler:
        report = reconciler.reconcile_table("odd")
        # One bucket per row: the two engines' checksums agree on rows 1 and 2.
        sums = [
            side.bucket_checksums("odd", "id", columns, origin=1, width=1, ranges=[(1, 4)])
            for side in (reconciler.legacy, reconciler.target)
        ]
    assert sums[0][0] == sums[1][0]
    assert sums[0][1] == sums[1][1]
    assert sums[0][2] != sums[1][2]
    # Row 3's negative TIME has no PostgreSQL equivalent: the target holds NULL, a change.
    assert report.method == "segments"
    assert [(c.key, list(c.columns)) for c in report.changed] == [([3], ["at"])]
    assert (report.missing, report.extra) == ([], [])
