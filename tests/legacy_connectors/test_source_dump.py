"""`switchover source dump`: JSON lines in DESIGN.md's shape, and its exit codes."""

from __future__ import annotations

import base64
import json
import random
import sqlite3
from decimal import Decimal
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


def test_dump_a_multi_segment_file_not_in_key_order(tmp_path: Path) -> None:
    """By the plan's key the file is sorted; --file-order keeps its own order. Each line is
    the record the source reads, exactly."""
    from legacy_connectors import RECORD_NUMBER
    from tests.legacy_connectors.copybook.test_key_order import open_segmented, segmented_records

    records = list(segmented_records(11, 120))
    random.Random(11).shuffle(records)
    source = open_segmented(tmp_path, "accounts.dat", records)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        PLAN.format(
            source=f"{{kind: copybook, copybook: {tmp_path / 'segments.cpy'}, "
            f"data: {tmp_path / 'accounts.dat'}, record_format: V, segment_field: KIND, "
            "segments: {H: HEADER, D: DETAIL}}",
            key="[ACCOUNT-ID, SEQ]",
        ).replace("source: people", "source: DETAIL")
    )

    def dump(*options: str) -> list[dict[str, object]]:
        args = ["source", "dump", str(plan), "--table", "DETAIL", *options]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines()]

    def as_json(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        return [json.loads(json.dumps({k: _plain(v) for k, v in r.items()})) for r in rows]

    file_order = [r for b in source.read("DETAIL", [RECORD_NUMBER]) for r in b]
    by_key = [r for b in source.read("DETAIL", ["ACCOUNT-ID", "SEQ"]) for r in b]
    assert file_order != by_key
    assert dump() == as_json(by_key)
    assert dump("--file-order") == as_json(file_order)
    assert dump("--file-order", "--limit", "3") == as_json(file_order[:3])


def _plain(value: object) -> object:
    return format(value, "f") if isinstance(value, Decimal) else value


def test_file_order_is_for_file_sources(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "legacy.db") as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY)")
    plan = write_plan(tmp_path, '{kind: sql, url: "sqlite:///legacy.db"}')
    args = ["source", "dump", str(plan), "--table", "people", "--file-order"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "--file-order is for file sources" in result.output
