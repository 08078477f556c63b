"""On real 1990s scans (FUNSD), the pipeline must find at least the words raw Tesseract
finds, and with the second engine voting word by word more again, without reading more
words that are not there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.ocr.conftest import corpus_dir


def _bench() -> object:
    path = Path(__file__).resolve().parents[2] / "bench" / "funsd_recall.py"
    spec = importlib.util.spec_from_file_location("funsd_recall", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_pipeline_recall_at_least_raw_tesseract_and_voting_adds_to_it() -> None:
    corpus_dir("funsd", "testing_data")
    bench = _bench()
    raw, alone, voting = bench.measure(3).values()  # type: ignore[attr-defined]
    print(f"raw {raw.share:.3f} alone {alone.share:.3f} voting {voting.share:.3f}")
    assert raw.total > 0
    assert alone.share >= raw.share
    assert voting.share > alone.share
    assert voting.precision >= alone.precision
