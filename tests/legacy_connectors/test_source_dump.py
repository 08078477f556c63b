"""`switchover source dump`: JSON lines in DESIGN.md's shape, and its exit codes."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from switchover.cli import main
from tests.conftest import need_corpus

PLAN = """\
system: {{id: test-system, name: Test}}
source: {source}
target: {{url: "sqlite:///modern.db"}}
tables:
  - {{source: people, target: people, key: {key}}}
"""


def write_plan(tmp_path: Path, source: str, key: str = "[id]") -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(source=source, key=key))
    return plan


def test_dump_sqlite_rows_as_json_lines(tmp_path: Path) -> None:
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, surname TEXT, balance NUMERIC(10,2),"
            " born DATE, photo BLOB)"
        )
        conn.execute("INSERT INTO people VALUES (2, 'Zoë', 1.5, '1961-03-12', x'00ff')")
        conn.execute("INSERT INTO people VALUES (1, 'Ann', 0.1, NULL, NULL)")
    plan = write_plan(tmp_path, '{kind: sql, url: "sqlite:///legacy.db"}')
    result = CliRunner().invoke(main, ["source", "dump", str(plan), "--table", "people"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines == [
        {"id": 1, "surname": "Ann", "balance": "0.10", "born": None, "photo": None},
        {"id": 2, "surname": "Zoë", "balance": "1.50", "born": "1961-03-12",
         "photo": base64.b64encode(b"\x00\xff").decode()},
    ]  # fmt: skip
    assert list(lines[0]) == ["id", "surname", "balance", "born", "photo"]
    limited = CliRunner().invoke(main, ["source", "dump", str(plan), "--table", "people",
                                        "--limit", "1"])  # fmt: skip
    assert len(limited.output.splitlines()) == 1


def test_dump_dbf_table(tmp_path: Path) -> None:
    folder = need_corpus("dbf", "dbfread")
    plan = write_plan(tmp_path, f"{{kind: dbf, path: {folder / 'people.dbf'}}}", "[NAME]")
    result = CliRunner().invoke(main, ["source", "dump", str(plan), "--table", "people"])
    assert result.exit_code == 0, result.output
    assert [json.loads(x) for x in result.output.splitlines()] == [
        {"NAME": "Alice", "BIRTHDATE": "1987-03-01"},
        {"NAME": "Bob", "BIRTHDATE": "1980-11-12"},
    ]


def test_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: {id: x}\n")
    result = CliRunner().invoke(main, ["source", "dump", str(bad), "--table", "t"])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    down = write_plan(tmp_path, '{kind: sql, url: "mysql+pymysql://root@127.0.0.1:1/x", '
                      "connect_timeout_s: 2}")  # fmt: skip
    result = CliRunner().invoke(main, ["source", "dump", str(down), "--table", "people"])
    assert result.exit_code == 3
    truncated = tmp_path / "people.dbf"
    truncated.write_bytes((need_corpus("dbf", "dbfread") / "people.dbf").read_bytes()[:130])
    plan = write_plan(tmp_path, f"{{kind: dbf, path: {truncated}}}", "[NAME]")
    result = CliRunner().invoke(main, ["source", "dump", str(plan), "--table", "people"])
    assert result.exit_code == 2
    assert "record 2" in result.output
    assert "byte offset 122" in result.output
