"""Fixtures for the OCR tests: sample pages rendered once per session, the corpus folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.form_template import FormTemplate
from tests.ocr import sample_forms

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


def corpus_dir(*parts: str) -> Path:
    """A folder of the shared corpus; skips the test when the corpus is absent, unless CI
    is ``true``, where a missing corpus is a failure."""
    folder = CORPUS.joinpath(*parts)
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the shared corpus is missing at {folder} (CI=true)")
        pytest.skip(f"the shared corpus is not at {folder}; skipped outside CI")
    return folder


@pytest.fixture(scope="session")
def templates() -> dict[str, FormTemplate]:
    return {sample_forms.TEMPLATE.form_type: sample_forms.TEMPLATE}


@pytest.fixture(scope="session")
def clean_page() -> np.ndarray[Any, Any]:
    return sample_forms.render_form()


@pytest.fixture(scope="session")
def noisy_page(clean_page: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return sample_forms.scan_like(clean_page)
