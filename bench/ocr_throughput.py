"""Throughput: ``forms extract`` (``ocr.extract_files``) against plain ``tesseract``.

Both run over the same scanned pages in the same run, each using every core: the
pipeline through its process pool, raw Tesseract as one CLI process per core. Also
measures extraction from digital PDFs (text layer, no OCR).

    .venv/bin/python bench/ocr_throughput.py [PAGES]            # 20 scans of the bundled forms
    .venv/bin/python bench/ocr_throughput.py [PAGES] --designs  # scans of random designs
                                                                # (held-out seeds)
    .venv/bin/python bench/ocr_throughput.py [PAGES] --designs --start 1  # tuning seeds
    .venv/bin/python bench/ocr_throughput.py [PAGES] --designs --rounds 3   # median of 3
    .venv/bin/python bench/ocr_throughput.py [PAGES] --designs --handwritten  # filled by hand

Each round also times the pipeline with Tesseract alone (no second engine), so the cost
of the second engine (``ocr.voting``) shows on the same pages.

Each round times raw Tesseract, the pipeline, then raw Tesseract again on the same
pages; the ratio of a round is the pipeline against the mean of its two raw runs. On a
machine others share, more rounds (and their median) steady the ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from config.form_template import FormTemplate, load_templates
from domain.forms import FormExtraction
from ocr import extract_files
from ocr.reading import OcrOptions
from switchover.specimens import write_design_specimens, write_specimens

HELD_OUT = 100_000


def raw_tesseract(paths: list[Path], jobs: int) -> float:
    """Seconds for ``tesseract FILE stdout`` over every page, ``jobs`` processes at a time."""
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> None:
        subprocess.run(
            ["tesseract", str(path), "stdout", "tsv"], capture_output=True, check=True, env=env
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, paths))
    return time.perf_counter() - started


def pipeline(
    paths: list[Path],
    jobs: int,
    templates: dict[str, FormTemplate] | None = None,
    options: OcrOptions | None = None,
) -> float:
    templates = templates or load_templates()
    started = time.perf_counter()
    results = extract_files(paths, templates, jobs=jobs, options=options)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not isinstance(r, FormExtraction)]
    assert not failed, failed
    return elapsed


def rounds_of(
    scans: list[Path], jobs: int, rounds: int, templates: dict[str, FormTemplate] | None = None
) -> tuple[float, float, float]:
    """Seconds of raw Tesseract, of the pipeline and of the pipeline with Tesseract alone
    over ``scans``, from the round whose ratio is the median, the lower of two (each
    round: raw, pipeline, Tesseract-alone pipeline, raw; the machine drifts)."""
    measured = []
    alone = replace(OcrOptions.from_settings(), second_engine=None)
    for _ in range(rounds):
        raw_a = raw_tesseract(scans, jobs)
        ours = pipeline(scans, jobs, templates)
        single = pipeline(scans, jobs, templates, alone)
        raw_b = raw_tesseract(scans, jobs)
        measured.append(((raw_a + raw_b) / 2, ours, single))
        print(
            f"  round: raw {raw_a:.1f} s and {raw_b:.1f} s, pipeline {ours:.1f} s, "
            f"Tesseract alone {single:.1f} s",
            flush=True,
        )
    measured.sort(key=lambda times: times[0] / times[1])
    return measured[(len(measured) - 1) // 2]  # of two, the lower


def _option(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20
    rounds = _option("--rounds", 1)
    if "--designs" in sys.argv:
        designs(pages, _option("--start", HELD_OUT), rounds, "--handwritten" in sys.argv)
        return
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        specimens = write_specimens(Path(folder), count=pages, seed=5, variants=("digital", "scan"))
        scans = [s.files["scan"] for s in specimens]
        digital = [s.files["digital"] for s in specimens]
        digital_pages = 2 * len(digital)  # the specimens' PDFs have two pages
        raw, ours, single = rounds_of(scans, jobs, rounds)
        digital_seconds = pipeline(digital, jobs)
    print(f"OCR throughput, {pages} scanned A4 pages at 300 dpi, {jobs} cores")
    print("| what | pages/s |")
    print("|---|---|")
    print(f"| raw tesseract CLI, {jobs} processes | {pages / raw:.2f} |")
    print(f"| forms extract (extract_files, jobs={jobs}) | {pages / ours:.2f} |")
    print(f"| ratio pipeline / raw | {raw / ours:.2f} |")
    print(f"| ratio pipeline with Tesseract alone / raw | {raw / single:.2f} |")
    print(
        f"| digital PDF extraction (text layer; 2-page forms, fields on page 1) | "
        f"{digital_pages / digital_seconds:.1f} ({len(digital) / digital_seconds:.1f} forms/s) |"
    )


def designs(pages: int, start: int = HELD_OUT, rounds: int = 1, handwritten: bool = False) -> None:
    """The same comparison on scans of random designs, one copy each, every design's
    template loaded (so each page is also recognised among them). Reported figures use
    the held-out seeds; ``start`` below them is for tuning. ``handwritten``: the copies
    are filled in by hand."""
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        specimens = write_design_specimens(
            Path(folder), range(start, start + pages), 1, ("scan",), handwritten=handwritten
        )
        scans = [s.files["scan"] for s in specimens]
        templates = {s.design.template.form_type: s.design.template for s in specimens}
        raw, ours, single = rounds_of(scans, jobs, rounds, templates)
    filled = "handwritten" if handwritten else "typed"
    print(
        f"OCR throughput, {pages} scans of random designs, {filled} (seeds {start}+), {jobs} cores"
    )
    print("| what | pages/s |")
    print("|---|---|")
    print(f"| raw tesseract CLI, {jobs} processes | {pages / raw:.2f} |")
    print(f"| forms extract (extract_files, jobs={jobs}) | {pages / ours:.2f} |")
    print(f"| forms extract, Tesseract alone (no second engine) | {pages / single:.2f} |")
    print(f"| ratio pipeline / raw | {raw / ours:.2f} |")
    print(f"| ratio Tesseract-alone pipeline / raw | {raw / single:.2f} |")


if __name__ == "__main__":
    main()
