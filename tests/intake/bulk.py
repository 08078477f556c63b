"""Bulk scans for the intake tests: specimen forms behind separator sheets, as a mailroom
scanner would give them (skewed, noisy, JPEG pages), with blank pages here and there."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from adapters.intake import separator_sheet
from config.form_template import load_templates
from switchover.specimens import fill_form, rasterise, render_pdf, scan

DPI = 100


@dataclass(frozen=True)
class BulkScan:
    """A bulk scan and what splitting it must give."""

    data: bytes
    pages: int
    form_types: list[str]
    form_pages: list[list[int]]
    """Each form's page numbers (1-based) in the bulk scan."""


def _scanned(page: Image.Image, rng: np.random.Generator) -> Image.Image:
    image, _effects = scan(page.convert("RGB"), rng, max_skew=2.0)
    return image.convert("L")


def bulk_pages(forms: int, *, seed: int, blanks: int, named: bool = True) -> tuple[
    list[Image.Image], list[str], list[list[int]]
]:  # fmt: skip
    """Page images: for each form a separator sheet then the form's pages, with ``blanks``
    blank pages after randomly chosen forms."""
    templates = load_templates()
    kinds = sorted(templates)
    chooser = random.Random(seed)
    rng = np.random.default_rng(seed)
    blank_after = set(chooser.sample(range(forms), blanks))
    pages: list[Image.Image] = []
    form_types: list[str] = []
    form_pages: list[list[int]] = []
    for number in range(forms):
        form_type = chooser.choice(kinds)
        sheet = separator_sheet(form_type if named else None)
        pages.append(_scanned(sheet.resize((827, 1169)), rng))
        rendered = render_pdf(fill_form(templates[form_type], seed=f"{seed}-{number}"))
        first = len(pages) + 1
        pages.extend(_scanned(page, rng) for page in rasterise(rendered.pdf, dpi=DPI))
        form_types.append(form_type)
        form_pages.append(list(range(first, len(pages) + 1)))
        if number in blank_after:
            pages.append(_scanned(Image.new("RGB", (827, 1169), (255, 255, 255)), rng))
    return pages, form_types, form_pages


def bulk_scan(
    forms: int, *, seed: int, blanks: int, kind: str = "pdf", named: bool = True
) -> BulkScan:
    """A multi-page PDF (JPEG pages, no text layer) or TIFF of ``forms`` forms."""
    pages, form_types, form_pages = bulk_pages(forms, seed=seed, blanks=blanks, named=named)
    out = io.BytesIO()
    if kind == "pdf":
        pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=DPI)
    else:
        pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:],
                      compression="tiff_deflate", dpi=(DPI, DPI))  # fmt: skip
    return BulkScan(out.getvalue(), len(pages), form_types, form_pages)
