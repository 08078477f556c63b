"""Specimen forms: realistic filled-in British government forms with ground truth.

Fills the bundled templates (``config/forms/*.yaml``) with made-up British test
data, prints them to PDF and turns them into scans and phone photos, each with a
JSON of the values an extraction should find. Tests, benchmarks and the demo use
them; ``switchover forms specimens OUT --count N`` calls :func:`write_specimens`.

Random designs (:func:`random_design`, :func:`write_design_specimens`) are new forms
drawn from a seed, each with its own layout and template, for tuning and measuring
the extraction on layouts it has never seen.

Every generator takes ``handwritten=True`` to fill the values in by hand instead of
typed: letters drawn one by one from Debian's handwriting typefaces (:data:`HAND_FACES`)
with their own baseline, size, slant and spacing, block capitals and joined lower case,
ticks and crosses as strokes, now and then a box with a tick taken back. Typed
specimens are unchanged (the same seed gives the same bytes).

Example:
    >>> from pathlib import Path
    >>> from switchover.specimens import write_specimens
    >>> specimens = write_specimens(Path("samples"), count=4, seed=7, variants=("scan",))
"""

from switchover.specimens._british import is_valid_ni_number
from switchover.specimens._degradation import PhotoEffects, ScanEffects, bilevel, photograph, scan
from switchover.specimens._designs import FormDesign, Section, design_for
from switchover.specimens._filling import (
    REFERENCE_DATE,
    Applicant,
    FilledField,
    FilledForm,
    fill_form,
)
from switchover.specimens._handwriting import (
    HAND_FACES,
    SLIPS,
    UNSEEN_FACES,
    HandFace,
    Handwriting,
    NoHandwritingFonts,
    installed_faces,
)
from switchover.specimens._random_designs import (
    FieldLayout,
    FieldStyle,
    RandomDesign,
    SectionLayout,
    fill_design,
    random_design,
)
from switchover.specimens._random_rendering import render_design
from switchover.specimens._rendering import FieldBoxes, RenderedForm, rasterise, render_pdf
from switchover.specimens._scoring import FieldScore
from switchover.specimens._writing import (
    DEFAULT_VARIANTS,
    DPI,
    VARIANTS,
    DesignSpecimen,
    Specimen,
    write_design_specimens,
    write_specimen,
    write_specimens,
)

__all__ = [
    "DEFAULT_VARIANTS",
    "DPI",
    "HAND_FACES",
    "REFERENCE_DATE",
    "SLIPS",
    "UNSEEN_FACES",
    "VARIANTS",
    "Applicant",
    "DesignSpecimen",
    "FieldBoxes",
    "FieldLayout",
    "FieldScore",
    "FieldStyle",
    "FilledField",
    "FilledForm",
    "FormDesign",
    "HandFace",
    "Handwriting",
    "NoHandwritingFonts",
    "PhotoEffects",
    "RandomDesign",
    "RenderedForm",
    "ScanEffects",
    "Section",
    "SectionLayout",
    "Specimen",
    "bilevel",
    "design_for",
    "fill_design",
    "fill_form",
    "installed_faces",
    "is_valid_ni_number",
    "photograph",
    "random_design",
    "rasterise",
    "render_design",
    "render_pdf",
    "scan",
    "write_design_specimens",
    "write_specimen",
    "write_specimens",
]
