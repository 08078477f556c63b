"""Writing specimens to a folder: the files of each variant plus a ground-truth JSON.

A specimen is one filled form in several forms of delivery (``VARIANTS``):

========  =====================  ====================================================
variant   file                   what it is
========  =====================  ====================================================
digital   ``ID.pdf``             the PDF as printed, with a text layer (2 pages)
clean     ``ID-clean.png``       page 1 rasterised at 300 dpi, no degradation
scan      ``ID-scan.png``        page 1 scanned: skew, blur, noise, JPEG artefacts
scan-pdf  ``ID-scan.pdf``        every page scanned, as JPEG images in a PDF, no text layer
tiff      ``ID-scan.tiff``       every page as a 1-bit CCITT G4 multi-page TIFF
photo     ``ID-photo.jpg``       page 1 photographed on a desk with a phone
heic      ``ID-photo.heic``      the same photo as HEIC, as iPhones save it
========  =====================  ====================================================

``ID.json`` holds the truth: form type, each field's normalised value and the
text as written, the label and value boxes (page fractions of the flat page),
and what each variant's degradation did (skew angle, photo corners). A handwritten
specimen's truth also says how it was written (``handwriting``: typeface, ink, the
features shown, and each box with a tick scribbled over, which is not ticked).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image

from config.form_template import FieldType, FormTemplate, load_templates
from switchover.specimens._degradation import PhotoEffects, bilevel, photograph, scan
from switchover.specimens._filling import REFERENCE_DATE, FilledForm, fill_form
from switchover.specimens._handwriting import HandFace
from switchover.specimens._random_designs import RandomDesign, fill_design, random_design
from switchover.specimens._random_rendering import render_design
from switchover.specimens._rendering import RenderedForm, rasterise, render_pdf

VARIANTS = ("digital", "clean", "scan", "scan-pdf", "tiff", "photo", "heic")
"""Every variant :func:`write_specimens` can write."""

DEFAULT_VARIANTS = ("digital", "scan", "photo")
"""The variants written when none are asked for."""

DPI = 300

_SUFFIX = {
    "digital": ".pdf",
    "clean": "-clean.png",
    "scan": "-scan.png",
    "scan-pdf": "-scan.pdf",
    "tiff": "-scan.tiff",
    "photo": "-photo.jpg",
    "heic": "-photo.heic",
}


@dataclass(frozen=True)
class Specimen:
    """One generated form and where its files are.

    Attributes:
        specimen_id: e.g. ``register-to-vote-0003``; the files' common stem.
        form_type: the template's form type.
        truth: the normalised value of each field by name (None when left blank).
        files: the file of each variant written, by variant name.
        truth_path: the ground-truth JSON.
    """

    specimen_id: str
    form_type: str
    truth: dict[str, Any]
    files: dict[str, Path]
    truth_path: Path


def _numpy_rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def write_specimens(
    out_dir: Path,
    *,
    form_type: str | None = None,
    count: int = 10,
    seed: int = 0,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    templates: dict[str, FormTemplate] | None = None,
    today: date = REFERENCE_DATE,
    handwritten: bool = False,
) -> list[Specimen]:
    """Generate ``count`` filled forms and write their files and ground truth to ``out_dir``.

    With no ``form_type`` the specimens take turns among all templates. The same
    arguments always give the same forms and images (HEIC bytes may differ; the
    encoder is multi-threaded). A ``manifest.json`` lists every specimen.

    Args:
        out_dir: the folder to write to (created if missing).
        form_type: one template's form type, or None for all of them.
        count: how many specimens in all.
        seed: the seed of the whole set.
        variants: which of :data:`VARIANTS` to write.
        templates: templates by form type; the bundled ones by default.
        today: the date forms are signed around.
        handwritten: fill the values in by hand rather than typed.

    Returns:
        The specimens written, in order.

    Raises:
        ValueError: an unknown variant or form type.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    templates = templates if templates is not None else load_templates()
    if form_type is not None and form_type not in templates:
        raise ValueError(f"no template for form type {form_type!r}; have {sorted(templates)}")
    chosen = [templates[form_type]] if form_type else [templates[k] for k in sorted(templates)]
    out_dir.mkdir(parents=True, exist_ok=True)
    specimens = [
        write_specimen(
            out_dir,
            chosen[index % len(chosen)],
            specimen_id=f"{chosen[index % len(chosen)].form_type}-{index + 1:04d}",
            seed=f"{seed}:{index}",
            variants=variants,
            today=today,
            handwritten=handwritten,
        )
        for index in range(count)
    ]
    _write_manifest(out_dir, specimens)
    return specimens


def write_specimen(
    out_dir: Path,
    template: FormTemplate,
    *,
    specimen_id: str,
    seed: int | str,
    variants: Iterable[str] = DEFAULT_VARIANTS,
    today: date = REFERENCE_DATE,
    handwritten: bool = False,
) -> Specimen:
    """Fill one form, print it, write the chosen variants and its ground truth.

    Args:
        out_dir: an existing folder.
        template: the form.
        specimen_id: the files' common stem.
        seed: the same seed gives the same specimen.
        variants: which of :data:`VARIANTS` to write.
        today: the date the form is signed around.
        handwritten: fill the values in by hand rather than typed.

    Returns:
        The specimen and its files.
    """
    filled = fill_form(template, seed=seed, today=today)
    rendered = render_pdf(filled, handwritten=handwritten)
    return write_filled(out_dir, filled, rendered, specimen_id=specimen_id, variants=variants)


def write_filled(
    out_dir: Path,
    filled: FilledForm,
    rendered: RenderedForm,
    *,
    specimen_id: str,
    variants: Iterable[str] = DEFAULT_VARIANTS,
    extra: dict[str, Any] | None = None,
) -> Specimen:
    """Write the chosen variants of a form already filled and printed, and its ground truth.

    Args:
        out_dir: an existing folder.
        filled: the form and its values.
        rendered: its printed PDF.
        specimen_id: the files' common stem.
        variants: which of :data:`VARIANTS` to write.
        extra: more entries for the truth JSON (a random design's layout).

    Returns:
        The specimen and its files.
    """
    template = filled.template
    sheets = _Sheets(filled, rendered)
    files: dict[str, Path] = {}
    details: dict[str, dict[str, Any]] = {}
    wanted = set(variants)
    for variant in (v for v in VARIANTS if v in wanted):
        path = out_dir / f"{specimen_id}{_SUFFIX[variant]}"
        details[variant] = {"file": path.name} | _WRITERS[variant](sheets, path)
        files[variant] = path
    truth = _truth_document(specimen_id, filled, sheets.rendered, details, sheets.scan_effects)
    values = _as_written(filled, rendered.handwriting)
    truth["fields"] = values
    if rendered.handwriting is not None:
        truth["handwriting"] = rendered.handwriting
    truth |= extra or {}
    truth_path = out_dir / f"{specimen_id}.json"
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Specimen(
        specimen_id=specimen_id,
        form_type=template.form_type,
        truth=values,
        files=files,
        truth_path=truth_path,
    )


def _as_written(filled: FilledForm, handwriting: dict[str, Any] | None) -> dict[str, Any]:
    """The truth as the page shows it: a hand whose typeface has no lower case (Humor
    Sans) writes names and free text in capitals, and no reader could tell the case."""
    values = filled.truth()
    if handwriting is None or not handwriting.get("capitals_only"):
        return values
    texts = {s.name for s in filled.template.fields if s.type in (FieldType.NAME, FieldType.TEXT)}
    return {
        name: value.upper() if name in texts and isinstance(value, str) else value
        for name, value in values.items()
    }


class _Sheets:
    """The pages of one specimen, rasterised and scanned only when a variant needs them.

    Most sets want page 1 alone (a scan, a photo); rasterising and scanning the
    notes page too would double the time.
    """

    def __init__(self, filled: FilledForm, rendered: RenderedForm) -> None:
        self.filled = filled
        self.rendered = rendered
        self._clean: list[Image.Image] = []
        self._scanned: list[Image.Image] = []
        self.scan_effects: list[dict[str, Any]] = []

    def rng(self, *parts: object) -> np.random.Generator:
        return _numpy_rng(self.filled.seed, *parts)

    def clean(self, count: int) -> list[Image.Image]:
        if len(self._clean) < count:
            self._clean = rasterise(self.rendered.pdf, dpi=DPI, pages=count)
        return self._clean[:count]

    def scanned(self, count: int) -> list[Image.Image]:
        for number, page in enumerate(self.clean(count), start=1):
            if number > len(self._scanned):
                image, effects = scan(page, self.rng("scan", number))
                self._scanned.append(image)
                self.scan_effects.append(asdict(effects))
        return self._scanned[:count]


def _write_digital(sheets: _Sheets, path: Path) -> dict[str, Any]:
    path.write_bytes(sheets.rendered.pdf)
    return {"pages": sheets.rendered.pages, "text_layer": True}


def _write_clean(sheets: _Sheets, path: Path) -> dict[str, Any]:
    sheets.clean(1)[0].save(path, dpi=(DPI, DPI))
    return {"pages": 1, "dpi": DPI}


def _write_scan(sheets: _Sheets, path: Path) -> dict[str, Any]:
    sheets.scanned(1)[0].save(path, dpi=(DPI, DPI), compress_level=3)
    return {"pages": 1, "dpi": DPI}


def _write_scan_pdf(sheets: _Sheets, path: Path) -> dict[str, Any]:
    pages = sheets.scanned(sheets.rendered.pages)
    # Pillow stores each page as a JPEG (DCTDecode): a scanned PDF with no text layer.
    pages[0].save(
        path, format="PDF", save_all=True, append_images=pages[1:], resolution=DPI, quality=70
    )
    return {"pages": len(pages), "dpi": DPI, "text_layer": False}


def _write_tiff(sheets: _Sheets, path: Path) -> dict[str, Any]:
    pages = [
        bilevel(page, sheets.rng("tiff", number))
        for number, page in enumerate(sheets.clean(sheets.rendered.pages), start=1)
    ]
    pages[0].save(
        path, save_all=True, append_images=pages[1:], compression="group4", dpi=(DPI, DPI)
    )
    return {"pages": len(pages), "dpi": DPI}


def _write_photo(sheets: _Sheets, path: Path) -> dict[str, Any]:
    photo, effects = _photo(sheets)
    photo.save(path, format="JPEG", quality=85)
    return {"pages": 1, "effects": asdict(effects)}


def _write_heic(sheets: _Sheets, path: Path) -> dict[str, Any]:
    photo, effects = _photo(sheets)
    # x265's default preset takes seconds a photo; ultrafast is ten times quicker
    # and still far better than the JPEG artefacts a phone photo already has.
    heif = pillow_heif.from_pillow(photo)
    heif.save(str(path), quality=70, enc_params={"preset": "ultrafast"})
    return {"pages": 1, "effects": asdict(effects)}


def _photo(sheets: _Sheets) -> tuple[Image.Image, PhotoEffects]:
    # The JPEG and the HEIC are the same photo: the same random source gives the same one.
    return photograph(sheets.clean(1)[0], sheets.rng("photo"))


_WRITERS: dict[str, Callable[[_Sheets, Path], dict[str, Any]]] = {
    "digital": _write_digital,
    "clean": _write_clean,
    "scan": _write_scan,
    "scan-pdf": _write_scan_pdf,
    "tiff": _write_tiff,
    "photo": _write_photo,
    "heic": _write_heic,
}


def _truth_document(
    specimen_id: str,
    filled: FilledForm,
    rendered: RenderedForm,
    details: dict[str, Any],
    scan_effects: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "specimen_id": specimen_id,
        "form_type": filled.template.form_type,
        "seed": filled.seed,
        "fields": filled.truth(),
        "written": {f.spec.name: f.written for f in filled.fields},
        "boxes": {
            name: {"page": 1, "label": box.label, "value": box.value}
            for name, box in rendered.boxes.items()
        },
        "files": details,
        "scan_effects": scan_effects or None,
    }


def _write_manifest(out_dir: Path, specimens: list[Specimen]) -> None:
    manifest = {
        "specimens": [
            {
                "specimen_id": s.specimen_id,
                "form_type": s.form_type,
                "truth": s.truth_path.name,
                "files": {variant: path.name for variant, path in s.files.items()},
            }
            for s in specimens
        ]
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class DesignSpecimen:
    """One filled copy of a random design and where its files are.

    Attributes:
        design: the random design (its template, layout and seed).
        copy: the copy number, from 1.
        specimen: the copy's files and truth, as for the bundled forms.
        template_path: the design's ``template.yaml``.
    """

    design: RandomDesign
    copy: int
    specimen: Specimen
    template_path: Path

    @property
    def truth(self) -> dict[str, Any]:
        return self.specimen.truth

    @property
    def files(self) -> dict[str, Path]:
        return self.specimen.files


def write_design_specimens(
    out: Path,
    design_seeds: Iterable[int],
    copies: int,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    *,
    handwritten: bool = False,
    faces: tuple[HandFace, ...] | None = None,
    slips: frozenset[str] = frozenset(),
) -> list[DesignSpecimen]:
    """Write filled copies of random designs, a folder per design.

    ``out/design-SEED/`` holds ``template.yaml`` (the template an engineer would
    write), ``design.json`` (the layout: each field's kind, style and features) and,
    per copy, ``design-SEED-copy-NN`` with the suffixes of :data:`VARIANTS` and its
    truth JSON (which also carries the layout of each field). ``out/manifest.json``
    lists every copy.

    Args:
        out: the folder to write to (created if missing).
        design_seeds: the designs; seeds 100000 and up are kept for reported figures.
        copies: filled copies per design.
        variants: which of :data:`VARIANTS` to write.
        handwritten: fill the values in by hand rather than typed.
        faces: the typefaces a hand is drawn from (the installed default faces if None;
            :data:`UNSEEN_FACES` for hands nobody tuned on).
        slips: the slips of :data:`SLIPS` the hands make now and then (none by default).

    Returns:
        The copies written, design by design.

    Raises:
        ValueError: an unknown variant.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    written: list[DesignSpecimen] = []
    for seed in design_seeds:
        design = random_design(seed)
        folder = out / f"design-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        template_path = folder / "template.yaml"
        template_path.write_text(design.template_yaml(), encoding="utf-8")
        layout = design.describe()
        (folder / "design.json").write_text(json.dumps(layout, indent=2) + "\n", encoding="utf-8")
        for copy in range(1, copies + 1):
            filled = fill_design(design, copy)
            specimen = write_filled(
                folder,
                filled,
                render_design(design, filled, handwritten=handwritten, faces=faces, slips=slips),
                specimen_id=f"design-{seed}-copy-{copy:02d}",
                variants=variants,
                extra={"design_seed": seed, "copy": copy, "layout": layout["fields"]},
            )
            written.append(DesignSpecimen(design, copy, specimen, template_path))
    _write_manifest(out, [d.specimen for d in written])
    return written
