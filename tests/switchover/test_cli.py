"""The command line's contract: JSON shapes, exit codes, one clear line on stderr."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from config.settings import get_settings
from switchover.specimens import write_specimens


@pytest.fixture(scope="module")
def digital_pdf(tmp_path_factory: pytest.TempPathFactory):
    (specimen,) = write_specimens(tmp_path_factory.mktemp("in"), form_type="legal-aid-means",
                                  count=1, seed=5, variants=("digital",))  # fmt: skip
    return specimen


def test_forms_extract_json_shape(run, digital_pdf):
    result = run("forms", "extract", str(digital_pdf.files["digital"]), "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)
    assert set(item) >= {"file", "form_type", "fields", "needs_review", "reasons"}
    assert item["form_type"] == "legal-aid-means"
    field = item["fields"]["surname"]
    assert set(field) == {
        "value", "confidence", "valid", "page", "bbox", "error", "readings", "doubts"
    }  # fmt: skip
    assert field["value"] == digital_pdf.truth["surname"]
    x0, y0, x1, y1 = field["bbox"]
    assert 0 <= x0 < x1 <= 1
    assert 0 <= y0 < y1 <= 1


def test_ocr_json_shape_reads_the_text_layer(run, digital_pdf):
    result = run("ocr", str(digital_pdf.files["digital"]), "--json")
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    first = doc["pages"][0]
    assert first["page"] == 1
    assert first["source"] == "text"
    assert first["width_px"] > 0
    assert first["height_px"] > 0
    word = first["words"][0]
    assert set(word) == {"text", "confidence", "bbox"}


def test_bad_file_exits_2_naming_it(run, tmp_path: Path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    result = run("forms", "extract", str(empty))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("switchover:")]
    assert len(lines) == 1
    assert "empty.pdf" in lines[0]


def test_unknown_template_is_bad_usage(run, digital_pdf):
    result = run("forms", "extract", str(digital_pdf.files["digital"]), "--template", "nope")
    assert result.exit_code == 2
    assert "nope" in result.output


def test_db_upgrade_then_empty_queue_and_ledger(run):
    assert run("db", "upgrade").exit_code == 0
    listed = run("review", "list")
    assert listed.exit_code == 0
    assert "no open review tasks" in listed.stdout
    report = run("savings", "report", "--csv")
    assert report.exit_code == 0
    assert report.stdout.splitlines() == ["kind,subject,entries,amount_gbp"]


def test_unreachable_temporal_exits_3(run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    get_settings.cache_clear()
    scan = tmp_path / "a.png"
    scan.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = run("forms", "ingest", str(scan))
    assert result.exit_code == 3
    assert f"127.0.0.1:{port}" in result.stderr
