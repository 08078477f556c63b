"""Word recall on FUNSD test scans: raw ``tesseract`` against the pipeline's OCR.

Recall is the share of the annotated words (lower case, punctuation at the ends
stripped) that the OCR output contains, counted as multisets per image.

    .venv/bin/python bench/funsd_recall.py [N]      # first N images, default 20
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNSD = REPO / ".." / "shared" / "corpus" / "funsd" / "testing_data"


@dataclass(frozen=True)
class Recall:
    found: int
    total: int
    seconds: float

    @property
    def share(self) -> float:
        return self.found / self.total if self.total else 0.0


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


def pipeline_words(image: Path) -> list[str]:
    from ocr import read_words

    document = read_words(image)
    return [w.text for page in document.pages for w in page.words]


def images(count: int) -> list[Path]:
    return sorted((FUNSD / "images").glob("*.png"))[:count]


def measure(count: int) -> tuple[Recall, Recall]:
    """Recall of raw tesseract and of the pipeline over the first ``count`` images."""
    totals = {"raw": [0, 0, 0.0], "pipeline": [0, 0, 0.0]}
    for image in images(count):
        truth = annotated_words(image)
        for name, read in [("raw", raw_tesseract_words), ("pipeline", pipeline_words)]:
            started = time.perf_counter()
            found = tokens(read(image))
            totals[name][2] += time.perf_counter() - started
            totals[name][0] += sum((truth & found).values())
            totals[name][1] += sum(truth.values())
    raw, pipeline = (Recall(int(f), int(t), s) for f, t, s in totals.values())
    return raw, pipeline


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    raw, pipeline = measure(count)
    print(f"FUNSD word recall, first {count} test images ({raw.total} annotated words)")
    print("| reader | recall | seconds/page |")
    print("|---|---|---|")
    print(f"| raw tesseract CLI | {raw.share:.1%} | {raw.seconds / count:.2f} |")
    print(f"| switchover pipeline | {pipeline.share:.1%} | {pipeline.seconds / count:.2f} |")


if __name__ == "__main__":
    main()
