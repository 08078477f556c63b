"""Random form designs: deterministic, valid templates, unique labels, truthful values,
and every layout feature turning up among the first 200 seeds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from config.form_template import FieldType, load_template
from ocr.validators import normalise
from switchover.specimens import (
    REFERENCE_DATE,
    FieldStyle,
    RandomDesign,
    fill_design,
    random_design,
    render_design,
    write_design_specimens,
)
from switchover.specimens._handwriting import HandPen
from switchover.specimens._random_rendering import _Sheet
from switchover.specimens._rendering import _Page

SEEDS = range(1, 51)


@pytest.fixture(scope="module")
def designs() -> list[RandomDesign]:
    return [random_design(seed) for seed in SEEDS]


def _page_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        textpage = document[0].get_textpage()
        return " ".join(textpage.get_text_range().split())
    finally:
        document.close()


def test_the_same_seed_gives_the_same_design_and_bytes() -> None:
    first, again = random_design(7), random_design(7)
    assert first == again
    assert render_design(first, fill_design(first, 2)).pdf == (
        render_design(again, fill_design(again, 2)).pdf
    )
    assert random_design(8).template != first.template


def test_templates_round_trip_through_yaml(designs: list[RandomDesign], tmp_path: Path) -> None:
    for design in designs:
        path = tmp_path / f"{design.seed}.yaml"
        path.write_text(design.template_yaml(), encoding="utf-8")
        assert load_template(path) == design.template
        assert 10 <= len(design.template.fields) <= 20
        assert "max_width" not in design.template_yaml()


def test_each_label_is_printed_once_and_inside_no_other_phrase(designs: list[RandomDesign]) -> None:
    for design, copy in [(d, c) for d in designs for c in (1, 2)]:
        text = _page_text(render_design(design, fill_design(design, copy)).pdf)
        printed = design.printed_texts()
        for spec in design.template.fields:
            if spec.label is None:
                continue
            assert text.count(spec.label) == 1, (design.seed, spec.label)
            holders = [p for p in printed if spec.label.lower() in p.lower()]
            assert holders == [spec.label], (design.seed, spec.label, holders)


def test_truth_is_what_normalise_makes_of_the_writing(designs: list[RandomDesign]) -> None:
    checked = Counter[str]()
    for design in designs:
        for copy in (1, 2, 3):
            for item in fill_design(design, copy).fields:
                if item.value is None:
                    assert not item.written.strip() or item.spec.type is FieldType.CHECKBOX
                    continue
                for today in (None, REFERENCE_DATE):
                    result = normalise(item.spec, item.written, today=today)
                    assert result.error is None, (design.seed, item.spec.name, result.error)
                    assert result.value == item.value, (design.seed, item.spec.name)
                checked[item.spec.type] += 1
    assert set(checked) == set(FieldType)


def test_every_field_has_boxes_on_the_page_and_value_boxes_do_not_overlap(
    designs: list[RandomDesign],
) -> None:
    for design in designs:
        boxes = render_design(design, fill_design(design, 1)).boxes
        assert set(boxes) == {spec.name for spec in design.template.fields}
        values = [b.value for b in boxes.values()]
        for i, a in enumerate(values):
            assert 0 <= a[0] < a[2] <= 1, (design.seed, a)
            assert 0 <= a[1] < a[3] <= 0.96, (design.seed, a)
            for b in values[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, (design.seed, a, b)


def test_every_layout_feature_appears_among_the_first_200_seeds() -> None:
    counts = Counter(f for seed in range(1, 201) for f in random_design(seed).features)
    wanted = {
        "comb", "inside", "below", "right", "tick_right", "tick_before", "tick_after", "yes_no",
        "choice_row", "grid", "two_columns", "header_dark", "header_grey", "header_rule",
        "pound_outside", "long_date", "wrapped_label", "leaders", "zone_pattern", "small_print",
    }  # fmt: skip
    rare = {feature: counts[feature] for feature in wanted if counts[feature] < 5}
    assert not rare, rare
    assert sum(1 for f in counts if f.startswith("font_")) >= 3


def test_yes_no_rows_are_choices_of_yes_and_no(designs: list[RandomDesign]) -> None:
    for design in designs:
        for item in design.layouts.values():
            spec = design.template.field(item.name)
            if item.style is FieldStyle.YES_NO:
                assert spec.type is FieldType.CHOICE
                assert spec.choices == ["Yes", "No"]
            if item.style is FieldStyle.CHOICE_ROW:
                assert 3 <= len(spec.choices) <= 5


def test_write_design_specimens_writes_a_folder_per_design(tmp_path: Path) -> None:
    written = write_design_specimens(tmp_path, [3, 4], copies=2, variants=("digital",))
    assert len(written) == 4
    first = written[0]
    assert first.template_path == tmp_path / "design-3" / "template.yaml"
    assert load_template(first.template_path) == first.design.template
    assert first.files["digital"].name == "design-3-copy-01.pdf"
    truth = json.loads(first.specimen.truth_path.read_text(encoding="utf-8"))
    assert truth["fields"] == json.loads(json.dumps(first.truth))
    assert truth["design_seed"] == 3
    assert truth["copy"] == 1
    assert set(truth["layout"]) == set(truth["fields"])
    assert (tmp_path / "manifest.json").is_file()
    assert (tmp_path / "design-4" / "design.json").is_file()


def test_a_ruled_table_is_printed_before_it_is_written_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """On paper the form is printed before anyone writes on it: a value run on past its
    cell's wall lies over the next cell's tint and label. Drawn cell by cell, the next
    cell's tint covered the writing, and the truth held letters nobody could see."""
    design = next(d for d in map(random_design, SEEDS) if any(s.grid for s in d.sections))
    drawn: list[str] = []
    box, write, grid_row = _Page.box, HandPen.write, _Sheet.grid_row

    def printed(self: _Page, *args: Any, **kwargs: Any) -> None:
        drawn.append("print")
        box(self, *args, **kwargs)

    def written(self: HandPen, *args: Any, **kwargs: Any) -> None:
        drawn.append("write")
        write(self, *args, **kwargs)

    def row(self: _Sheet, *args: Any, **kwargs: Any) -> None:
        drawn.append("(")
        grid_row(self, *args, **kwargs)
        drawn.append(")")

    monkeypatch.setattr(_Page, "box", printed)
    monkeypatch.setattr(HandPen, "write", written)
    monkeypatch.setattr(_Sheet, "grid_row", row)
    render_design(design, fill_design(design, 1), handwritten=True)
    rows = "".join(d[0] for d in drawn).split("(")[1:]
    assert rows
    for cells in (r.split(")")[0] for r in rows):
        assert "w" in cells
        assert "p" in cells
        assert "wp" not in cells, cells  # nothing printed over what is written
