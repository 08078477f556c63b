"""The migration plan format: examples load; mistakes name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.migration_plan import (
    CsvSourceConfig,
    DbfSourceConfig,
    MigrationPlan,
    SqlSourceConfig,
    load_plan,
    parse_plan,
)
from domain.errors import PlanError

PLANS = Path(__file__).resolve().parents[2] / "config" / "plans"

MINIMAL = """\
system:
  id: legacy-x
  name: X
source:
  kind: csv
  path: exports/
  delimiter: ";"
  encoding: cp1252
  quarantine_bad_records: true
target:
  url: sqlite:///modern.db
tables:
  - source: electors
    target: electors
    key: [ID]
"""


@pytest.mark.parametrize("path", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.name)
def test_example_plans_load(path: Path) -> None:
    plan = load_plan(path)
    assert isinstance(plan, MigrationPlan)
    if isinstance(plan.source, DbfSourceConfig):
        assert plan.source.path.is_absolute()


def test_chinook_plan() -> None:
    plan = load_plan(PLANS / "chinook-mariadb.yaml")
    assert isinstance(plan.source, SqlSourceConfig)
    assert plan.table("Invoice").tolerance == {"total": 0.01}
    assert plan.table("customers").column_mapping("LastName").transform == "strip"
    assert plan.table("Customer").column_mapping("City").to == "city"
    assert plan.cutover is not None
    assert plan.cutover.stages == [5, 25, 50, 100]


def test_paths_resolve_against_the_plan_file(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(MINIMAL)
    plan = load_plan(tmp_path / "plan.yaml")
    assert isinstance(plan.source, CsvSourceConfig)
    assert plan.source.path == (tmp_path / "exports").resolve()
    assert plan.source.quarantine_bad_records


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("  kind: csv", "  kind: paper"), "line 4, source"),
        (('  delimiter: ";"', '  delimter: ";"'), "line 7, source.delimter"),
        (("    key: [ID]", "    key: []"), "line 15, tables[0].key"),
        (("  encoding: cp1252", "  encoding: klingon"), "line 8, source.encoding"),
        (("  name: X\n", ""), "line 1, system.name"),
    ],
)
def test_errors_name_file_line_and_field(change: tuple[str, str], where: str) -> None:
    text = MINIMAL.replace(*change)
    with pytest.raises(PlanError) as caught:
        parse_plan(text, filename="x.yaml")
    assert str(caught.value).startswith("x.yaml: ")
    assert where in str(caught.value)


def test_bad_yaml_and_duplicates() -> None:
    with pytest.raises(PlanError, match=r"y\.yaml, line 3: not valid YAML"):
        parse_plan("system:\n  id: [unclosed\n", filename="y.yaml")
    with pytest.raises(PlanError, match="line 3: 'id' is given twice"):
        parse_plan("system:\n  id: a\n  id: b\n", filename="y.yaml")


def test_unknown_transform() -> None:
    text = MINIMAL + "    columns:\n      SURNAME: {to: surname, transform: shout}\n"
    with pytest.raises(
        PlanError, match=r"line 17, tables\[0\]\.columns\.SURNAME.*unknown transform"
    ):
        parse_plan(text, filename="z.yaml")
