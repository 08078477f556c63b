"""Real inputs the fuzzers start from: the corpus's copybooks and EBCDIC files (read in
place, never copied), the bundled templates and plans, and small documents made here.

Documents are generated small (a few hundred pixels) so that thousands of mutants decode
in seconds; what the fuzzers look for is the reader's reaction to damaged structure, not
to size.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import CORPUS, REPO

MAINFRAME = CORPUS / "mainframe"


@dataclass(frozen=True)
class CopybookSeed:
    """A copybook with its data file and the reader options that decode it."""

    name: str
    copybook: Path
    data: Path
    options: dict[str, object] = field(default_factory=dict)
    data_limit: int = 6000
    """Bytes of the data file a mutant starts from: enough records, fast to decode."""

    @functools.cached_property
    def text(self) -> str:
        return self.copybook.read_text(encoding="utf-8")

    @functools.cached_property
    def head(self) -> bytes:
        with self.data.open("rb") as f:
            return f.read(self.data_limit)


def copybook_seeds() -> list[CopybookSeed]:
    """The corpus's copybook sets (MANIFEST.md, section 3); empty without the corpus."""

    def seed(folder: str, copybook: str, data: str, limit: int, **options: object) -> CopybookSeed:
        at = MAINFRAME / folder
        return CopybookSeed(folder, at / copybook, at / data, options, data_limit=limit)

    seeds = [
        seed("cobrix-test1-odo", "test1_copybook.cpy", "example.bin", 2202 * 2),
        seed("cobrix-test3-fixed", "test3_copybook.cpy", "TRAN2.AUG31.DATA.dat", 45 * 40),
        seed("cobrix-test5b-rdw-multiseg", "test5_copybook.cpy",
             "COMP.DETAILS.FEB02.DATA.RDW.BE.dat", 2000, record_format="V",
             rdw_counts_header=False, segment_field="SEGMENT-ID",
             segments={"C": "STATIC-DETAILS", "P": "CONTACTS"}),
        seed("cobrix-test6-type-variety", "test6_copybook.cpy", "INTEGR.TYPES.NOV28.DATA.dat",
             1493 * 2),
        seed("cobrix-test9-codepages", "test9_copybook.cpy", "TRAN.APR14.NPT.DATA.dat", 45 * 40,
             encoding="cp273"),
        seed("cobrix-test19-display-num", "test19_display_num.cpy", "data.dat", 560),
        seed("aws-mdu-client-fb500-redefines", "COBKS05.cpy", "CLIENT.EBCDIC.dat", 500 * 6),
        seed("aws-mdu-cobvbfm2-vb-odo", "COBVBFM2.cpy", "COBVBFM2.EBCDIC.dat", 3500,
             record_format="VB"),
    ]  # fmt: skip
    return [s for s in seeds if s.copybook.exists() and s.data.exists()]


def template_seeds() -> dict[str, str]:
    """The bundled form templates, by file name."""
    return {p.name: p.read_text() for p in sorted((REPO / "config/forms").glob("*.yaml"))}


def plan_seeds() -> dict[str, str]:
    """The bundled migration plans, by file name."""
    return {p.name: p.read_text() for p in sorted((REPO / "config/plans").glob("*.yaml"))}


def _page_image(width: int = 240, height: int = 320) -> object:
    from PIL import Image, ImageDraw

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, width - 10, 40), outline=0)
    draw.text((16, 18), "Register to vote", fill=0)
    draw.text((16, 60), "Surname  OKAFOR", fill=0)
    draw.line((16, 90, width - 16, 90), fill=0)
    return image


@functools.cache
def document_seeds() -> dict[str, bytes]:
    """Small documents of every kind intake reads, by file name (the name's extension is
    what the reader checks the content against)."""
    import pillow_heif
    from PIL import Image
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfgen import canvas

    pillow_heif.register_heif_opener()
    page = _page_image()
    assert isinstance(page, Image.Image)
    out: dict[str, bytes] = {}

    def save(name: str, image: Image.Image, fmt: str, **options: object) -> None:
        buf = io.BytesIO()
        image.save(buf, fmt, **options)
        out[name] = buf.getvalue()

    save("scan.png", page, "PNG", dpi=(300, 300))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated, so the reader must transpose
    save("photo.jpg", page.convert("RGB"), "JPEG", quality=70, exif=exif.tobytes())
    save("scan.tif", page, "TIFF", compression="tiff_lzw", dpi=(200, 200))
    save("fax.tif", page.convert("1"), "TIFF", compression="group4")
    buf = io.BytesIO()
    page.save(buf, "TIFF", save_all=True, append_images=[page.rotate(90, expand=True)],
              compression="packbits")  # fmt: skip
    out["pages.tif"] = buf.getvalue()
    save("photo.heic", page.convert("RGB"), "HEIF", quality=50)

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A6, invariant=1)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(20, 380, "Register to vote")
    pdf.drawString(20, 350, "Surname OKAFOR Date of birth 01/02/1980")
    pdf.rect(20, 300, 200, 20)
    pdf.showPage()
    pdf.drawString(20, 380, "Second page of the form")
    pdf.save()
    out["form.pdf"] = buf.getvalue()

    # A scanned PDF: no text layer, one image.
    buf = io.BytesIO()
    page.convert("RGB").save(buf, "PDF", resolution=100)
    out["scanned.pdf"] = buf.getvalue()
    return out
