"""The written files: text layer, boxes, image sizes and DPI, variants, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pdfplumber
import pillow_heif
import pytest
from PIL import Image, TiffImagePlugin

from config.form_template import FieldType, FormTemplate, Position
from switchover.specimens import DPI, Specimen, write_specimens

A4_300_DPI = (2480, 3508)


def _page_texts(path: Path) -> list[str]:
    with pdfplumber.open(path) as pdf:
        return [(page.extract_text() or "") for page in pdf.pages]


def test_one_specimen_of_each_form(specimens: list[Specimen]) -> None:
    assert sorted(s.form_type for s in specimens) == ["legal-aid-means", "register-to-vote"]


def test_every_label_is_printed_once_on_page_one(
    specimens: list[Specimen], templates: dict[str, FormTemplate]
) -> None:
    for specimen in specimens:
        pages = [
            " ".join(text.split()).casefold() for text in _page_texts(specimen.files["digital"])
        ]
        for spec in templates[specimen.form_type].fields:
            if spec.label:
                label = spec.label.casefold()
                assert pages[0].count(label) == 1, spec.label
                assert all(label not in other for other in pages[1:]), spec.label


def test_match_rules_hold_on_the_printed_form(
    specimens: list[Specimen], templates: dict[str, FormTemplate]
) -> None:
    for specimen in specimens:
        text = " ".join(_page_texts(specimen.files["digital"])[0].split()).casefold()
        for form in templates.values():
            matches = all(p.casefold() in text for p in form.match.all_text) and (
                not form.match.any_text or any(p.casefold() in text for p in form.match.any_text)
            )
            assert matches == (form.form_type == specimen.form_type)


def test_boxes_hold_the_written_values(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        truth = json.loads(specimen.truth_path.read_text(encoding="utf-8"))
        with pdfplumber.open(specimen.files["digital"]) as pdf:
            page = pdf.pages[0]
            for name, written in truth["written"].items():
                x0, top, x1, bottom = truth["boxes"][name]["value"]
                region = page.crop(
                    (x0 * page.width, top * page.height, x1 * page.width, bottom * page.height)
                )
                found = " ".join(w["text"] for w in region.extract_words())
                assert found == written, name
                label = truth["boxes"][name]["label"]
                if label is not None:
                    _, _, lx1, lbottom = label
                    assert lx1 <= x0 or lbottom <= top, f"{name}: label overlaps value"


def test_truth_file_matches_the_specimen(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        truth = json.loads(specimen.truth_path.read_text(encoding="utf-8"))
        assert truth["form_type"] == specimen.form_type
        assert truth["fields"] == specimen.truth
        for variant, path in specimen.files.items():
            assert truth["files"][variant]["file"] == path.name
            assert path.is_file()


def test_manifest_lists_the_set(specimens: list[Specimen], specimen_dir: Path) -> None:
    manifest = json.loads((specimen_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [s["specimen_id"] for s in manifest["specimens"]] == [s.specimen_id for s in specimens]


@pytest.mark.parametrize("variant", ["clean", "scan"])
def test_page_images_are_a4_at_300_dpi(specimens: list[Specimen], variant: str) -> None:
    for specimen in specimens:
        with Image.open(specimen.files[variant]) as image:
            assert image.size == A4_300_DPI
            assert round(image.info["dpi"][0]) == DPI


def test_scanned_pdf_has_no_text_layer(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        texts = _page_texts(specimen.files["scan-pdf"])
        assert len(texts) == 2
        assert all(not text.strip() for text in texts)


def test_tiff_is_multi_page_bilevel(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        with Image.open(specimen.files["tiff"]) as image:
            assert isinstance(image, TiffImagePlugin.TiffImageFile)
            assert image.n_frames == 2
            assert image.mode == "1"
            assert image.size == A4_300_DPI
            assert round(image.info["dpi"][0]) == DPI
            assert image.info["compression"] == "group4"


def test_photos_open_as_jpeg_and_heic(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        with Image.open(specimen.files["photo"]) as jpeg:
            assert jpeg.format == "JPEG"
            size = jpeg.size
        heif = pillow_heif.open_heif(specimen.files["heic"])
        assert heif.size == size
        assert heif.to_pillow().mode == "RGB"


def test_photo_corners_lie_inside_the_frame(specimens: list[Specimen]) -> None:
    for specimen in specimens:
        truth = json.loads(specimen.truth_path.read_text(encoding="utf-8"))
        corners = truth["files"]["photo"]["effects"]["corners"]
        assert len(corners) == 4
        assert all(0 < x < 1 and 0 < y < 1 for x, y in corners)


def test_same_seed_gives_the_same_files(tmp_path: Path) -> None:
    first = write_specimens(tmp_path / "a", count=1, seed=5, variants=("digital", "scan"))
    again = write_specimens(tmp_path / "b", count=1, seed=5, variants=("digital", "scan"))
    other = write_specimens(tmp_path / "c", count=1, seed=6, variants=("digital", "scan"))
    for variant in ("digital", "scan"):
        assert first[0].files[variant].read_bytes() == again[0].files[variant].read_bytes()
    assert first[0].truth_path.read_text() == again[0].truth_path.read_text()
    assert first[0].truth != other[0].truth


def test_one_form_type_only(tmp_path: Path) -> None:
    written = write_specimens(tmp_path, form_type="legal-aid-means", count=2, variants=("digital",))
    assert {s.form_type for s in written} == {"legal-aid-means"}
    assert written[0].specimen_id != written[1].specimen_id


def test_unknown_variant_or_form_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variants"):
        write_specimens(tmp_path, count=1, variants=("fax",))
    with pytest.raises(ValueError, match="no template"):
        write_specimens(tmp_path, form_type="passport", count=1)


def test_required_fields_are_always_written(
    specimens: list[Specimen], templates: dict[str, FormTemplate]
) -> None:
    for specimen in specimens:
        for spec in templates[specimen.form_type].fields:
            if spec.required and spec.type is not FieldType.CHECKBOX:
                assert specimen.truth[spec.name] not in (None, "")


def test_template_reach_covers_the_printed_boxes(
    specimens: list[Specimen], templates: dict[str, FormTemplate]
) -> None:
    # max_width runs from the label's right end (right) or near its left end (below);
    # max_height is centred on the label (right) or runs down from its bottom (below).
    for specimen in specimens:
        boxes = json.loads(specimen.truth_path.read_text(encoding="utf-8"))["boxes"]
        for spec in templates[specimen.form_type].fields:
            if spec.position is Position.ZONE:
                continue
            lx0, ltop, lx1, lbottom = boxes[spec.name]["label"]
            vx0, vtop, vx1, vbottom = boxes[spec.name]["value"]
            if spec.position is Position.RIGHT:
                assert vx0 > lx1, spec.name
                if spec.max_width:
                    assert lx1 + spec.max_width >= vx1, spec.name
                if spec.max_height:
                    middle = (ltop + lbottom) / 2
                    assert middle - spec.max_height / 2 <= vtop + 0.003, spec.name
                    assert middle + spec.max_height / 2 >= vbottom - 0.003, spec.name
            else:
                assert vtop > lbottom, spec.name
                if spec.max_width:
                    assert lx0 + spec.max_width >= vx1, spec.name
                if spec.max_height:
                    assert lbottom + spec.max_height >= vbottom, spec.name
