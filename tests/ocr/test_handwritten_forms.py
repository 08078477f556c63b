"""Handwritten forms read end to end: the generator's designs filled in by hand, scanned,
through ``extract_files`` with both engines, as a caseworker's queue would get them.

The figures worth reporting come from ``bench/handwriting.py`` on held-out seeds (and
``--faces unseen`` for hands nobody tuned on); these tests keep the whole path honest
on a few forms: most fields right, none wrong without a flag, every tick taken back
sent to a person. Seeds are of the tuning range, in the default hands and in the
unseen ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.forms import FormExtraction
from ocr import extract_files
from switchover.specimens import UNSEEN_FACES, FieldScore, HandFace, write_design_specimens

DESIGNS = range(30, 32)


@pytest.mark.parametrize(
    "faces", [None, UNSEEN_FACES], ids=["default hands", "hands nobody tuned on"]
)
def test_handwritten_scans_are_read_and_their_doubts_flagged(
    tmp_path: Path, faces: tuple[HandFace, ...] | None
) -> None:
    written = write_design_specimens(tmp_path, DESIGNS, 2, ("scan",), handwritten=True, faces=faces)
    score, taken_back, taken_back_flagged = FieldScore(), 0, 0
    for seed in DESIGNS:
        copies = [w for w in written if w.design.seed == seed]
        template = copies[0].design.template
        results = extract_files(
            [c.files["scan"] for c in copies],
            {template.form_type: template},
            template.form_type,
            jobs=2,
        )
        for copy, result in zip(copies, results, strict=True):
            assert isinstance(result, FormExtraction), result
            flagged = {r.field for r in result.reasons}
            values = {name: f.value for name, f in result.fields.items()}
            score.add(copy.truth, values, flagged, result.file)
            truth = json.loads(copy.specimen.truth_path.read_text(encoding="utf-8"))
            if faces is not None:
                assert truth["handwriting"]["typeface"] in {f.family for f in faces}
            crossed = {entry["field"] for entry in truth["handwriting"]["crossed_out"]}
            taken_back += len(crossed)
            taken_back_flagged += len(crossed & flagged)
            # A field both engines read carries both readings, for the caseworker.
            assert any(len(f.readings) == 2 for f in result.fields.values())
    assert score.fields >= 40
    assert score.wrong_unflagged == 0, score.misses
    assert score.exact_rate >= 0.8
    assert taken_back > 0
    assert taken_back_flagged == taken_back
