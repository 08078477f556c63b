"""The intake commands: ``forms separator`` prints a sheet the splitter recognises."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from adapters.intake import Separator, read_separator


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
