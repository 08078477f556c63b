"""Extraction on random form designs (``switchover.specimens.random_design``): layouts
no template was tuned for, each with the template an engineer would write.

Digital copies go through the text layer and the boxes found on the rendered page;
scans through the whole OCR path. The accuracy figures worth reporting come from
``bench/random_designs.py`` on held-out seeds; these tests keep the layout features
working.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from domain.forms import FormExtraction
from ocr import extract_files
from switchover.specimens import DesignSpecimen, FieldScore, write_design_specimens

# Design seeds of the tuning range that the bench does not report on.
DIGITAL_DESIGNS = range(600, 612)
SCANNED_DESIGNS = range(640, 643)


def _score(specimens: list[DesignSpecimen], variant: str) -> tuple[FieldScore, Counter[str]]:
    score, missed = FieldScore(), Counter[str]()
    for specimen in specimens:
        template = specimen.design.template
        (result,) = extract_files(
            [specimen.files[variant]], {template.form_type: template}, template.form_type, jobs=1
        )
        assert isinstance(result, FormExtraction), result
        values = {name: f.value for name, f in result.fields.items()}
        flagged = {r.field for r in result.reasons}
        score.add(specimen.truth, values, flagged, result.file)
        for name, truth in specimen.truth.items():
            if values.get(name) != truth:
                missed.update(specimen.design.layouts[name].features)
    return score, missed


def test_every_layout_feature_is_read_from_digital_copies(tmp_path: Path) -> None:
    specimens = write_design_specimens(tmp_path, DIGITAL_DESIGNS, 1, variants=("digital",))
    features = Counter(f for s in specimens for layout in s.design.layouts.values()
                       for f in layout.features)  # fmt: skip
    for feature in ("comb", "grid", "inside", "below", "yes_no", "choice_row", "tick_right",
                    "tick_before", "wrapped_label", "pound_outside"):  # fmt: skip
        assert features[feature], f"no {feature} among the designs"
    score, missed = _score(specimens, "digital")
    assert score.exact_rate >= 0.97, (score.misses, missed)
    assert score.wrong_unflagged == 0, score.misses


@pytest.mark.slow
def test_scans_of_unfamiliar_designs(tmp_path: Path) -> None:
    specimens = write_design_specimens(tmp_path, SCANNED_DESIGNS, 1, variants=("scan",))
    score, missed = _score(specimens, "scan")
    print(f"fields={score.fields} exact={score.exact_rate:.3f} missed={dict(missed)}")
    assert score.exact_rate >= 0.9, (score.misses, missed)
    assert score.wrong_unflagged_rate <= 0.02, score.misses
