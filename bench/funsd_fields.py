"""Fields on real scans nobody tuned on: every FUNSD answer read as a field.

FUNSD's test scans (1980s-90s forms at about 100 dpi, typed and handwritten) annotate
each answer with its box and text. Here each page gets a template whose fields are its
answers, each a free-text field at a fixed zone (its box, a little padded), and the
page goes through ``extract_form`` as any form would: crops, both engines, the vote,
the review rules. Per field: exactly right (the annotation's text, spaces left out:
FUNSD splits words at hyphens and slashes, so its ``617- 439- 3278`` is the page's
``617-439-3278``), wrong without a flag (not sent to review), and how often a field not
flagged is right; apart for the fields the second engine read too (handwriting or
doubt).

The boxes are FUNSD's, not found by the pipeline, so this measures reading and
confidence, not finding fields. Annotation noise exists (FUNSD's own), so a field
"wrong" here is sometimes right on the page.

    .venv/bin/python bench/funsd_fields.py [N] [FIRST]   # N images from FIRST, default 50 0
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from config.form_template import FieldSpec, FieldType, FormTemplate, Position
from domain.forms import FormExtraction
from ocr.pipeline import extract_form
from ocr.validators import normalise

REPO = Path(__file__).resolve().parents[1]
FUNSD = REPO / ".." / "shared" / "corpus" / "funsd" / "testing_data"
# Padding around an answer's box, as a share of the page (about 4 px at 100 dpi): the
# boxes hug the words, and the pipeline straightens the page before it crops.
_PAD = 0.005


@dataclass
class Tally:
    fields: int = 0
    right: int = 0
    wrong_unflagged: int = 0
    sure: int = 0
    sure_right: int = 0

    def add(self, right: bool, flagged: bool) -> None:
        self.fields += 1
        self.right += right
        self.wrong_unflagged += not right and not flagged
        self.sure += not flagged
        self.sure_right += right and not flagged

    def row(self, name: str) -> str:
        share = self.right / self.fields if self.fields else 0.0
        silent = self.wrong_unflagged / self.fields if self.fields else 0.0
        sure = f"{self.sure_right} of {self.sure}"
        if self.sure:
            sure += f" ({self.sure_right / self.sure:.1%})"
        return (
            f"| {name} | {self.fields} | {share:.1%} | {self.wrong_unflagged} ({silent:.1%}) "
            f"| {sure} |"
        )


def template_for(image: Path) -> tuple[FormTemplate, dict[str, str]]:
    """A template whose fields are the page's answers, and each field's annotated text."""
    from PIL import Image

    with Image.open(image) as page:
        width, height = page.size
    annotation = json.loads((FUNSD / "annotations" / f"{image.stem}.json").read_text())
    fields, truth = [], {}
    for entity in annotation["form"]:
        text = " ".join(entity["text"].split())
        if entity["label"] != "answer" or not any(c.isalnum() for c in text):
            continue
        x0, y0, x1, y1 = entity["box"]
        zone = (
            max(0.0, x0 / width - _PAD),
            max(0.0, y0 / height - _PAD),
            min(1.0, x1 / width + _PAD),
            min(1.0, y1 / height + _PAD),
        )
        name = f"answer_{entity['id']}"
        fields.append(FieldSpec(name=name, position=Position.ZONE, zone=zone, type=FieldType.TEXT))
        truth[name] = text
    form_type = f"funsd-{image.stem.replace('_', '-')}"
    return FormTemplate(form_type=form_type, title=image.stem, fields=fields), truth


def measure(count: int, first: int = 0) -> tuple[Tally, Tally, float]:
    """All fields, the fields the second engine read too, and seconds in all."""
    every, second_read = Tally(), Tally()
    started = time.perf_counter()
    for image in sorted((FUNSD / "images").glob("*.png"))[first : first + count]:
        template, truth = template_for(image)
        if not template.fields:
            continue
        result = extract_form(
            image.read_bytes(), image.name, {template.form_type: template}, template.form_type
        )
        assert isinstance(result, FormExtraction)
        flagged = {reason.field for reason in result.reasons}
        for name, text in truth.items():
            spec = template.field(name)
            extracted = result.fields[name]
            right = _spaceless(extracted.value) == _spaceless(normalise(spec, text).value)
            every.add(right, name in flagged)
            if len(extracted.readings) > 1:
                second_read.add(right, name in flagged)
    return every, second_read, time.perf_counter() - started


def _spaceless(value: object) -> object:
    return "".join(value.split()) if isinstance(value, str) else value


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    every, second_read, seconds = measure(count, first)
    print(f"FUNSD answers as fields, test images {first}-{first + count - 1}, {seconds:.0f} s")
    print("| fields | count | exact | wrong, not flagged | right when not flagged |")
    print("|---|---|---|---|---|")
    print(every.row("all answers"))
    print(second_read.row("read by both engines"))


if __name__ == "__main__":
    main()
