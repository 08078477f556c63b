"""The intake commands: ``forms separator`` prints a sheet the splitter recognises."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.intake import Separator, read_separator
from config.settings import get_settings
from switchover.intake import Intake, watch
from tests.intake.conftest import one_page_pdf


def test_forms_separator_prints_a_sheet_naming_the_form_type(run, tmp_path: Path) -> None:
    out = tmp_path / "sheet.pdf"
    result = run("forms", "separator", "--form-type", "register-to-vote", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = pdfium.PdfDocument(out.read_bytes())[0].render(scale=150 / 72).to_pil()
    assert read_separator(page) == Separator(form_type="register-to-vote")


def test_forms_separator_without_a_form_type_prints_a_plain_separator(run, tmp_path: Path) -> None:
    out = tmp_path / "sheet.pdf"
    assert run("forms", "separator", "--out", str(out)).exit_code == 0
    page = pdfium.PdfDocument(out.read_bytes())[0].render(scale=150 / 72).to_pil()
    assert read_separator(page) == Separator(form_type=None)


def test_forms_separator_refuses_a_form_type_without_template(run, tmp_path: Path) -> None:
    result = run("forms", "separator", "--form-type", "no-such-form", "--out",
                 str(tmp_path / "sheet.pdf"))  # fmt: skip
    assert result.exit_code == 2
    assert "no template for form type 'no-such-form'" in result.output
    assert not (tmp_path / "sheet.pdf").exists()


def test_forms_watch_refuses_a_folder_that_does_not_exist(run, tmp_path: Path) -> None:
    result = run("forms", "watch", str(tmp_path / "nowhere"), "--once")
    assert result.exit_code == 2
    assert "no such folder" in result.output


def test_forms_watch_once_takes_a_file_and_prints_json(
    run, tmp_path: Path, local_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHOVER_TEMPORAL_ADDRESS",
                       local_env.client.service_client.config.target_host)  # fmt: skip
    folder = tmp_path / "scanner"
    folder.mkdir()
    (folder / "form.pdf").write_bytes(one_page_pdf(64))
    assert run("db", "upgrade").exit_code == 0

    result = run("forms", "watch", str(folder), "--once", "--json", "--form-type",
                 "register-to-vote")  # fmt: skip

    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert line["state"] == "taken"
    assert line["ref"] == "form.pdf"
    [document] = line["documents"]
    assert document["form_type"] == "register-to-vote"
    assert document["workflow_id"] == f"digitise-{document['document_id']}"
    again = run("forms", "watch", str(folder), "--once", "--json")
    assert again.exit_code == 0
    assert not [x for x in again.stdout.splitlines() if x.startswith("{")]


def test_forms_quarantined_lists_what_intake_set_aside_and_why(run, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    assert "no quarantined documents" in run("forms", "quarantined").output
    folder = tmp_path / "scanner"
    folder.mkdir()
    (folder / "letter.pdf").write_bytes(b"Dear Sir, my form is enclosed")

    # Not a document: quarantined before Temporal is needed.
    async def once() -> None:
        intake = Intake.of(get_settings(), _never_started)
        await watch(get_settings(), [str(folder)], once=True, settle_seconds=0.01, intake=intake)

    asyncio.run(once())
    result = run("forms", "quarantined", "--json")
    assert result.exit_code == 0
    [row] = json.loads(result.stdout)
    assert row["filename"] == "letter.pdf"
    assert row["error"] == "UnsupportedFormatError"
    assert "not a document" in row["reason"]
    assert "letter.pdf: not a document" in run("forms", "quarantined").output


async def _never_started(*_args: object) -> tuple[str, bool]:
    raise AssertionError("nothing should start")
