"""Word recall on FUNSD test scans: raw ``tesseract`` against the pipeline's OCR,
with Tesseract alone and with the second engine voting word by word.

Recall is the share of the annotated words (lower case, punctuation at the ends
stripped) that the OCR output contains, counted as multisets per image. Precision is
the share of the words read that are annotated words: FUNSD leaves some print
unannotated, so it is a lower bound, shown so that a reader cannot gain recall by
reading everything twice.

    .venv/bin/python bench/funsd_recall.py [N] [FIRST]   # N images from FIRST, default 20 0

The word vote (``ocr/word_vote.py``) was tuned on images 20-49; the first 20 were not
looked at while tuning it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNSD = REPO / ".." / "shared" / "corpus" / "funsd" / "testing_data"


@dataclass(frozen=True)
class Recall:
    found: int
    total: int
    read: int
    seconds: float

    @property
    def share(self) -> float:
        return self.found / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        return self.found / self.read if self.read else 0.0


def token(text: str) -> str:
    return re.sub(r"^\W+|\W+$", "", text.lower())


def tokens(texts: Iterable[str]) -> Counter[str]:
    return Counter(t for t in (token(x) for x in texts) if t)


def annotated_words(image: Path) -> Counter[str]:
    annotation = json.loads((FUNSD / "annotations" / f"{image.stem}.json").read_text())
    return tokens(w["text"] for entity in annotation["form"] for w in entity["words"])


def raw_tesseract_words(image: Path) -> list[str]:
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    tsv = subprocess.run(
        ["tesseract", str(image), "stdout", "tsv"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    rows = [line.split("\t") for line in tsv.splitlines()[1:]]
    return [row[11] for row in rows if len(row) == 12 and row[11].strip()]


def pipeline_words(image: Path, second_engine: str | None) -> list[str]:
    from ocr import read_words
    from ocr.reading import OcrOptions

    options = replace(OcrOptions.from_settings(), second_engine=second_engine)
    document = read_words(image, options=options)
    return [w.text for page in document.pages for w in page.words]


READERS: dict[str, Callable[[Path], list[str]]] = {
    "raw tesseract CLI": raw_tesseract_words,
    "switchover pipeline, Tesseract alone": partial(pipeline_words, second_engine=None),
    "switchover pipeline, with rapidocr voting": partial(pipeline_words, second_engine="rapidocr"),
}


def images(count: int, first: int = 0) -> list[Path]:
    return sorted((FUNSD / "images").glob("*.png"))[first : first + count]


def measure(count: int, first: int = 0) -> dict[str, Recall]:
    """Recall, precision and time of each reader over ``count`` images from ``first``."""
    totals = {name: [0, 0, 0, 0.0] for name in READERS}
    for image in images(count, first):
        truth = annotated_words(image)
        for name, read in READERS.items():
            started = time.perf_counter()
            found = tokens(read(image))
            totals[name][3] += time.perf_counter() - started
            totals[name][0] += sum((truth & found).values())
            totals[name][1] += sum(truth.values())
            totals[name][2] += sum(found.values())
    return {name: Recall(int(f), int(t), int(r), s) for name, (f, t, r, s) in totals.items()}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    results = measure(count, first)
    total = next(iter(results.values())).total
    print(f"FUNSD word recall, test images {first}-{first + count - 1} ({total} annotated words)")
    print("| reader | recall | precision | seconds/page |")
    print("|---|---|---|---|")
    for name, result in results.items():
        print(
            f"| {name} | {result.share:.1%} | {result.precision:.1%} "
            f"| {result.seconds / count:.2f} |"
        )


if __name__ == "__main__":
    main()
