"""A small form of our own, rendered clean or scan-like, with its template and ground truth.

Stands in for the bundled specimens in tests that need a known page: labels on the
left, boxed values on the right, a checkbox, a value below its label and a zone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from config.form_template import FormTemplate

FORM_TYPE = "housing-benefit-test"

TEMPLATE = FormTemplate.model_validate(
    {
        "form_type": FORM_TYPE,
        "title": "Housing benefit claim (test form)",
        "match": {"all_text": ["Housing Benefit claim"], "any_text": ["Council Tax", "Revenues"]},
        "fields": [
            {"name": "surname", "label": "Surname", "type": "name", "required": True},
            {"name": "forenames", "label": "First names", "type": "name"},
            {"name": "date_of_birth", "label": "Date of birth", "type": "date", "required": True},
            {
                "name": "national_insurance_number",
                "label": "National Insurance number",
                "type": "ni_number",
                "required": True,
            },
            {"name": "postcode", "label": "Postcode", "type": "postcode"},
            {"name": "email", "label": "Email address", "type": "email"},
            {"name": "monthly_income", "label": "Monthly income", "type": "money"},
            {"name": "children", "label": "Number of children", "type": "integer"},
            {"name": "address", "label": "Address", "position": "below", "type": "text"},
            {"name": "postal_vote", "label": "I would like a postal vote", "type": "checkbox"},
            {"name": "carer", "label": "I am a carer", "type": "checkbox"},
            {
                "name": "reference",
                "position": "zone",
                "zone": [0.66, 0.025, 0.97, 0.075],
                "type": "text",
                "pattern": "^[A-Z]{2}[0-9]{6}$",
            },
        ],
        "review": {"min_confidence": 0.8},
    }
)


@dataclass(frozen=True)
class FilledForm:
    """What is written on a sample form, as printed and as extraction should return it."""

    printed: dict[str, str]
    expected: dict[str, Any]
    postal_vote: bool
    carer: bool


FILLED = FilledForm(
    printed={
        "surname": "OKAFOR",
        "forenames": "Grace Adaeze",
        "date_of_birth": "12/03/1985",
        "national_insurance_number": "QQ 12 34 56 C".replace("QQ", "AB"),
        "postcode": "SW1A 1AA",
        "email": "grace.okafor@example.org",
        "monthly_income": "£1,234.50",
        "children": "2",
        "address": "14 Acacia Avenue, Lambeth, London",
        "reference": "HB123456",
    },
    expected={
        "surname": "OKAFOR",
        "forenames": "Grace Adaeze",
        "date_of_birth": "1985-03-12",
        "national_insurance_number": "AB123456C",
        "postcode": "SW1A 1AA",
        "email": "grace.okafor@example.org",
        "monthly_income": "1234.50",
        "children": 2,
        "address": "14 Acacia Avenue, Lambeth, London",
        "reference": "HB123456",
        "postal_vote": True,
        "carer": False,
    },
    postal_vote=True,
    carer=False,
)

_ROWS = [
    ("Surname", "surname"),
    ("First names", "forenames"),
    ("Date of birth", "date_of_birth"),
    ("National Insurance number", "national_insurance_number"),
    ("Postcode", "postcode"),
    ("Email address", "email"),
    ("Monthly income", "monthly_income"),
    ("Number of children", "children"),
]


def _font(size: int) -> ImageFont.FreeTypeFont:
    for candidate in [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        str(Path(__import__("reportlab").__file__).parent / "fonts" / "Vera.ttf"),
    ]:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    raise RuntimeError("no TrueType font for the sample form")


def render_form(form: FilledForm = FILLED, dpi: int = 300) -> np.ndarray[Any, Any]:
    """The form printed on A4 at ``dpi``, as 8-bit grayscale."""
    k = dpi / 300
    page = Image.new("L", (round(2480 * k), round(3508 * k)), 255)
    draw = ImageDraw.Draw(page)
    label_font, value_font, title_font = (
        _font(round(46 * k)),
        _font(round(50 * k)),
        _font(round(72 * k)),
    )

    def box(x0: float, y0: float, x1: float, y1: float) -> None:
        draw.rectangle([x0 * k, y0 * k, x1 * k, y1 * k], outline=0, width=max(1, round(4 * k)))

    def text(x: float, y: float, words: str, font: Any) -> None:
        draw.text((x * k, y * k), words, fill=0, font=font)

    text(200, 300, "Housing Benefit claim", title_font)
    text(200, 420, "Lambeth Council Tax and Revenues service", label_font)
    box(1640, 90, 2400, 250)
    text(1690, 135, form.printed["reference"], value_font)
    y = 640
    for label, name in _ROWS:
        text(200, y + 25, label, label_font)
        box(1000, y, 2300, y + 110)
        text(1040, y + 25, form.printed[name], value_font)
        y += 220
    text(200, y + 25, "Address", label_font)
    box(200, y + 110, 2300, y + 240)
    text(240, y + 145, form.printed["address"], value_font)
    y += 380
    for label, ticked in [
        ("I would like a postal vote", form.postal_vote),
        ("I am a carer", form.carer),
    ]:
        text(200, y + 10, label, label_font)
        box(1000, y, 1080, y + 80)
        if ticked:
            draw.line(
                [1012 * k, y * k + 12 * k, 1068 * k, y * k + 68 * k], fill=0, width=round(8 * k)
            )
            draw.line(
                [1068 * k, y * k + 12 * k, 1012 * k, y * k + 68 * k], fill=0, width=round(8 * k)
            )
        y += 160
    text(200, 3300, "Please return this form to the Revenues office.", label_font)
    return np.asarray(page, dtype=np.uint8)


def scan_like(
    page: np.ndarray[Any, Any], *, angle: float = 1.5, noise: float = 12.0, seed: int = 7
) -> np.ndarray[Any, Any]:
    """A noisy, tilted copy: rotation, blur, grain and scanner specks."""
    rng = np.random.default_rng(seed)
    height, width = page.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    out = cv2.warpAffine(page, matrix, (width, height), borderValue=255)
    out = cv2.GaussianBlur(out, (3, 3), 0.8).astype(np.float64)
    out += rng.normal(0, noise, out.shape)
    specks = rng.random(out.shape)
    out[specks < 0.002] = 0
    out[specks > 0.998] = 255
    return np.clip(out, 0, 255).astype(np.uint8)


def photo_like(page: np.ndarray[Any, Any], seed: int = 3) -> np.ndarray[Any, Any]:
    """The page photographed at an angle on a dark table, with uneven light."""
    height, width = page.shape
    canvas_w, canvas_h = int(width * 1.3), int(height * 1.25)
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    dst = np.array(
        [
            [canvas_w * 0.12, canvas_h * 0.08],
            [canvas_w * 0.90, canvas_h * 0.11],
            [canvas_w * 0.86, canvas_h * 0.93],
            [canvas_w * 0.09, canvas_h * 0.90],
        ],
        dtype=np.float32,
    )
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(page, matrix, (canvas_w, canvas_h), borderValue=60)
    gradient = np.linspace(0.8, 1.0, canvas_w)[None, :] * np.ones((canvas_h, 1))
    out = warped.astype(np.float64) * gradient
    out += np.random.default_rng(seed).normal(0, 4, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def encode(page: np.ndarray[Any, Any], fmt: str, dpi: int | None = 300, **options: Any) -> bytes:
    """The page as an image file's bytes (PNG, JPEG, TIFF, HEIF)."""
    buffer = io.BytesIO()
    image = Image.fromarray(page)
    if dpi:
        options["dpi"] = (dpi, dpi)
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        options.pop("dpi", None)
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def digital_pdf(form: FilledForm = FILLED, pages: int = 1) -> bytes:
    """The form as a digital PDF (a text layer, no scan), optionally repeated."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    width, height = A4
    k = width / 2480  # our 300-dpi layout in points

    for _ in range(pages):
        pdf.setFont("Helvetica", 72 * k * 0.75 / 0.75)
        pdf.drawString(200 * k, height - 370 * k, "Housing Benefit claim")
        pdf.setFont("Helvetica", 46 * k)
        pdf.drawString(200 * k, height - 470 * k, "Lambeth Council Tax and Revenues service")
        pdf.drawString(1690 * k, height - 200 * k, form.printed["reference"])
        y = 640
        for label, name in _ROWS:
            pdf.drawString(200 * k, height - (y + 70) * k, label)
            pdf.rect(1000 * k, height - (y + 110) * k, 1300 * k, 110 * k)
            pdf.drawString(1040 * k, height - (y + 70) * k, form.printed[name])
            y += 220
        pdf.drawString(200 * k, height - (y + 70) * k, "Address")
        pdf.rect(200 * k, height - (y + 240) * k, 2100 * k, 130 * k)
        pdf.drawString(240 * k, height - (y + 190) * k, form.printed["address"])
        y += 380
        for label, ticked in [
            ("I would like a postal vote", form.postal_vote),
            ("I am a carer", form.carer),
        ]:
            pdf.drawString(200 * k, height - (y + 55) * k, label)
            pdf.rect(1000 * k, height - (y + 80) * k, 80 * k, 80 * k)
            if ticked:
                pdf.setLineWidth(3)
                pdf.line(1012 * k, height - (y + 12) * k, 1068 * k, height - (y + 68) * k)
                pdf.line(1068 * k, height - (y + 12) * k, 1012 * k, height - (y + 68) * k)
                pdf.setLineWidth(1)
            y += 160
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
