"""The OCR options a worker builds from its settings: the second engine can be turned off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import get_settings
from ocr.reading import OcrOptions


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_the_second_engine_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHOVER_OCR_SECOND_ENGINE", raising=False)
    assert OcrOptions.from_settings().second_engine == "rapidocr"


@pytest.mark.usefixtures("fresh_settings")
def test_an_empty_second_engine_setting_reads_with_tesseract_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHOVER_OCR_SECOND_ENGINE", "")
    assert OcrOptions.from_settings().second_engine is None
